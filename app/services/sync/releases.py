"""Starting a sync: a release (which avatar and banner, and optionally the profile text, to which
accounts) fanned out into one task per (account, slot), each its own job; restoring an earlier
release; reading them back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.jobs import enqueue_on_commit
from app.models import (
    Image,
    ImageKind,
    ImageStatus,
    PlatformAccount,
    Profile,
    SyncRequest,
    SyncTask,
    TaskStatus,
    User,
)
from app.services.exceptions import Conflict, DomainError, NotFound
from app.services.platforms import REGISTRY, connections, get
from app.services.platforms.base import PROFILE_SLOT
from app.services.profiles import fitting
from app.services.sync import manual, notices, preferences, progress


def utcnow() -> datetime:
    return datetime.now(UTC)


class NothingToSync(DomainError):
    status = 422
    code = "nothing_to_sync"


def start(
    user: User,
    *,
    avatar_id: int | None = None,
    banner_id: int | None = None,
    account_ids: list[int] | None = None,
    use_current: bool = True,
    restored_from: SyncRequest | None = None,
    profile: bool = False,
    profile_text: dict[str, Any] | None = None,
    profile_account_ids: list[int] | None = None,
) -> SyncRequest:
    """A new release. Missing image ids mean the current avatar/banner (when `use_current`);
    no account ids mean the person's default targets (sync preferences). Slots an account has
    turned off are left out whoever chose the accounts. Raises a DomainError the person can read.

    Profile text: `profile` carries the person's profile text as it is now, `profile_text` a
    given snapshot (a restore); it goes to the targets whose platform sets text, or only to
    those of them in `profile_account_ids` (the platforms unticked in the preview left out)."""
    avatar = _image(user, avatar_id, ImageKind.AVATAR, use_current)
    banner = _image(user, banner_id, ImageKind.BANNER, use_current)
    text = _text(user, profile, profile_text)
    if avatar is None and banner is None and text is None:
        if profile or profile_text is not None:
            raise NothingToSync(
                "Your profile has no text to sync yet; write a display name or a bio first."
            )
        if use_current or avatar_id or banner_id:
            raise NothingToSync("Upload an avatar or a banner first, then sync it.")
        raise NothingToSync("Choose an avatar or a banner to sync (both are left as they are).")
    accounts = _accounts(user, account_ids)
    release = SyncRequest(
        user_id=user.id,
        avatar_image_id=avatar.id if avatar else None,
        banner_image_id=banner.id if banner else None,
        restored_from_id=restored_from.id if restored_from else None,
        profile_text=text,
    )
    db.session.add(release)
    images = {"avatar": avatar, "banner": banner}
    text_to = None if profile_account_ids is None else set(profile_account_ids)
    if text_to and (stray := text_to - {a.id for a in connections.accounts_of(user)}):
        raise NotFound(f"There is no connected account {min(stray)}.")
    for account in accounts:
        platform = get(account.platform)
        for slot, preset_key in platform.capabilities.slots.items():
            image = images.get(slot)
            if image is None or slot in account.slots_off:
                continue
            task = SyncTask(
                user_id=user.id,
                account_id=account.id,
                slot=slot,
                image_id=image.id,
                preset_key=preset_key,
                status=TaskStatus.QUEUED,
            )
            if platform.is_manual:
                # A manual platform's slot waits for the person; no job runs it.
                task.status = TaskStatus.MANUAL
                if manual.already_done(account, slot, image, preset_key):
                    task.status, task.finished_at = TaskStatus.SKIPPED, utcnow()
            release.tasks.append(task)
        if _gets_text(account, text, text_to):
            release.tasks.append(
                SyncTask(
                    user_id=user.id,
                    account_id=account.id,
                    slot=PROFILE_SLOT,
                    preset_key=PROFILE_SLOT,
                    status=TaskStatus.QUEUED,
                )
            )
    if not release.tasks:
        if avatar is None and banner is None:
            raise NothingToSync(
                "None of the chosen accounts takes profile text"
                " (Mastodon, Bluesky and X do; Sync settings say what each account takes)."
            )
        raise NothingToSync(
            "None of the chosen accounts takes the chosen images"
            " (Sync settings say which pictures each account takes)."
        )
    db.session.flush()
    if release.is_finished:  # every step was already up to date
        release.finished_at = utcnow()
        notices.release_finished(release)
    # Slot by slot (every account's avatar, then every banner): two workers then start on
    # different accounts rather than the second waiting for the first's turn on one account.
    for task in sorted(release.tasks, key=lambda t: (t.slot, t.account_id)):
        if task.status is TaskStatus.QUEUED:
            enqueue_on_commit("run_sync_task", task.id)
    progress.changed_on_commit(release.id, user.id)
    return release


def _gets_text(account: PlatformAccount, text: dict | None, chosen: set[int] | None) -> bool:
    if text is None or (chosen is not None and account.id not in chosen):
        return False
    return takes_text(account) and bool(
        fitting.fit(text, get(account.platform).capabilities).values
    )


def takes_text(account: PlatformAccount) -> bool:
    """Whether profile text can be pushed to the account (its platform sets text, and the
    person has not turned the profile slot off for it)."""
    platform = REGISTRY.get(account.platform)
    return (
        platform is not None
        and not platform.is_manual
        and platform.capabilities.pushes_text
        and PROFILE_SLOT not in account.slots_off
    )


@dataclass(frozen=True)
class TextPreview:
    """What one account would get from a release carrying the person's profile text now."""

    account: PlatformAccount
    fitted: fitting.Fitted
    # For each field that had to be cut: the platform's limit, in words ("30 characters")
    limits: dict[str, str]


def text_preview(
    user: User, account_ids: list[int] | None
) -> tuple[list[TextPreview], list[PlatformAccount]]:
    """For the chosen accounts (None: the default targets): what each one that takes text
    would get, exactly as the engine would push it, and the accounts that take none."""
    text = fitting.snapshot(db.session.get(Profile, user.id))
    usable = connections.connected_accounts(user)
    if account_ids is None:
        chosen = preferences.targets(user)
    else:
        wanted = set(account_ids)
        chosen = [account for account in usable if account.id in wanted]
    previews, without = [], []
    for account in chosen:
        fitted = fitting.fit(text, get(account.platform).capabilities)
        if takes_text(account) and fitted.values:
            previews.append(TextPreview(account, fitted, _limits(account)))
        else:
            without.append(account)
    return previews, without


def _limits(account: PlatformAccount) -> dict[str, str]:
    capabilities = get(account.platform).capabilities
    limits = {name: f"{rule.limit} {rule.unit}" for name, rule in capabilities.text.items()}
    if capabilities.link_fields:
        rule = capabilities.link_fields
        limits["fields"] = f"{rule.pairs} fields of up to {rule.value_limit} characters"
    return limits


def _text(user: User, profile: bool, given: dict[str, Any] | None) -> dict[str, Any] | None:
    if given is not None:
        text = {name: given.get(name) for name in fitting.SNAPSHOT_FIELDS}
    elif profile:
        text = fitting.snapshot(db.session.get(Profile, user.id))
    else:
        return None
    return None if fitting.is_empty(text) else text


def restore(user: User, earlier: SyncRequest) -> SyncRequest:
    """A new release with an earlier release's images and profile text, pushed to the default
    targets."""
    if (
        earlier.avatar_image_id is None
        and earlier.banner_image_id is None
        and earlier.profile_text is None
    ):
        raise Conflict("The images of that release have been deleted, so it cannot be restored.")
    return start(
        user,
        avatar_id=earlier.avatar_image_id,
        banner_id=earlier.banner_image_id,
        use_current=False,
        restored_from=earlier,
        profile_text=earlier.profile_text,
    )


def _image(user: User, image_id: int | None, kind: ImageKind, use_current: bool) -> Image | None:
    if image_id is None:
        if not use_current:
            return None
        return db.session.scalar(
            select(Image).filter_by(user_id=user.id, kind=kind, is_current=True)
        )
    image = db.session.scalar(select(Image).filter_by(id=image_id, user_id=user.id))
    if image is None:
        raise NotFound(f"There is no {kind} image {image_id}.")
    if image.kind != kind:
        raise DomainError(f"Image {image_id} is a {image.kind}, not a {kind}.", status=422)
    if image.status is ImageStatus.FAILED:
        raise Conflict(f"Image {image_id} could not be processed, so it cannot be synced.")
    return image


def _accounts(user: User, account_ids: list[int] | None) -> list[PlatformAccount]:
    if account_ids is None:
        accounts = preferences.targets(user)
        if not accounts:
            raise NothingToSync("Connect an account first: there is nowhere to sync to yet.")
        return accounts
    if not account_ids:
        raise NothingToSync("Choose at least one account to sync to.")
    found = {
        account.id: account
        for account in db.session.scalars(
            select(PlatformAccount).where(
                PlatformAccount.user_id == user.id, PlatformAccount.id.in_(set(account_ids))
            )
        )
    }
    if missing := [i for i in account_ids if i not in found]:
        raise NotFound(f"There is no connected account {missing[0]}.")
    accounts = [found[i] for i in dict.fromkeys(account_ids)]
    for account in accounts:
        if not account.is_usable or account.platform not in REGISTRY:
            raise Conflict(f"{account.handle} needs reconnecting before it can be synced.")
    return accounts


def history(user: User, limit: int = 50) -> list[SyncRequest]:
    """The newest releases with everything the history page shows, in a handful of queries."""
    query = (
        SyncRequest.owned_by(user.id)
        .limit(limit)
        .options(
            selectinload(SyncRequest.tasks).selectinload(SyncTask.account),
            selectinload(SyncRequest.avatar_image).selectinload(Image.variants),
            selectinload(SyncRequest.banner_image).selectinload(Image.variants),
        )
    )
    return list(db.session.scalars(query))


def latest(user: User) -> SyncRequest | None:
    return db.session.scalar(SyncRequest.owned_by(user.id).limit(1))


def as_json(release: SyncRequest) -> dict[str, Any]:
    return {
        "id": release.id,
        "status": release.status,
        "created_at": release.created_at.isoformat() if release.created_at else None,
        "avatar_id": release.avatar_image_id,
        "banner_id": release.banner_image_id,
        "restored_from": release.restored_from_id,
        "profile": release.profile_text,
        "finished_at": release.finished_at.isoformat() if release.finished_at else None,
        "tasks": [task_json(task) for task in release.tasks],
    }


def task_json(task: SyncTask) -> dict[str, Any]:
    return {
        "id": task.id,
        "account_id": task.account_id,
        "platform": task.account.platform,
        "handle": task.account.handle,
        "slot": task.slot,
        "status": task.status.value,
        "attempts": task.attempts,
        "error": task.error,
        "next_attempt_at": task.next_attempt_at.isoformat()
        if task.next_attempt_at and task.status is TaskStatus.RETRYING
        else None,
    }
