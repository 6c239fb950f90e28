"""Rows for the connections and sync page tests, made directly (no platform involved)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.extensions import db
from app.models import (
    AccountStatus,
    Image,
    PlatformAccount,
    SyncRequest,
    SyncTask,
    TaskStatus,
    User,
)
from app.services.images import library
from tests.images import avatar_jpeg, banner_jpeg


def make_account(
    user: User,
    *,
    platform: str = "mastodon",
    handle: str = "@alice@masto.example",
    status: AccountStatus = AccountStatus.CONNECTED,
    last_error: str | None = None,
    instance_url: str = "https://masto.example",
) -> PlatformAccount:
    account = PlatformAccount(
        user_id=user.id,
        platform=platform,
        instance_url=instance_url,
        remote_id=handle,
        handle=handle,
        access_token="token",
        status=status,
        last_error=last_error,
    )
    db.session.add(account)
    db.session.commit()
    return account


def make_images(user: User, run_jobs, seed: int = 1) -> tuple[Image, Image]:
    """A processed avatar and banner (current, if they are the person's first)."""
    avatar, _ = library.create_upload(user.id, "avatar", avatar_jpeg(seed=seed), "me.jpg")
    banner, _ = library.create_upload(user.id, "banner", banner_jpeg(seed=seed + 1), "hills.jpg")
    db.session.commit()
    ids = avatar.id, banner.id
    run_jobs()
    return db.session.get(Image, ids[0]), db.session.get(Image, ids[1])


def make_release(
    user: User,
    account: PlatformAccount,
    *,
    avatar: Image | None = None,
    banner: Image | None = None,
    statuses: dict[str, TaskStatus] | None = None,
    error: str | None = None,
) -> SyncRequest:
    """A release with one task per slot, in the given states (no jobs queued)."""
    statuses = statuses or {"avatar": TaskStatus.SUCCEEDED, "banner": TaskStatus.SUCCEEDED}
    release = SyncRequest(
        user_id=user.id,
        avatar_image_id=avatar.id if avatar else None,
        banner_image_id=banner.id if banner else None,
    )
    db.session.add(release)
    now = datetime.now(UTC)
    for slot, status in statuses.items():
        image = avatar if slot == "avatar" else banner
        finished = status not in (TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.RETRYING)
        release.tasks.append(
            SyncTask(
                user_id=user.id,
                account_id=account.id,
                slot=slot,
                image_id=image.id if image else None,
                preset_key=f"mastodon_{slot}",
                status=status,
                attempts=0 if status is TaskStatus.QUEUED else 1,
                error=error
                if status in (TaskStatus.FAILED, TaskStatus.RETRYING, TaskStatus.NEEDS_RECONNECT)
                else None,
                next_attempt_at=now + timedelta(seconds=42)
                if status is TaskStatus.RETRYING
                else None,
                finished_at=now if finished else None,
            )
        )
    db.session.commit()
    return release
