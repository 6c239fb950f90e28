"""Shared steps for the sync tests: a person with ready images and a connected account."""

from __future__ import annotations

import time
from collections.abc import Callable

from app.extensions import db
from app.models import Image, PlatformAccount, SyncRequest, SyncTask, User
from app.models.sync import UNFINISHED
from app.services.images import library
from app.services.platforms import connections
from app.services.platforms.base import Connection
from tests.images import avatar_jpeg, banner_jpeg


def ready_images(user: User, run_jobs, seed: int = 1) -> tuple[Image, Image]:
    """An avatar and a banner, processed (every platform's file made)."""
    avatar, _ = library.create_upload(user.id, "avatar", avatar_jpeg(seed=seed))
    banner, _ = library.create_upload(user.id, "banner", banner_jpeg(seed=seed + 10))
    db.session.commit()
    run_jobs()
    return db.session.get(Image, avatar.id), db.session.get(Image, banner.id)


def connect_mastodon(user: User, fake, username: str = "alice") -> PlatformAccount:
    """A Mastodon account as the OAuth flow leaves it (the flow itself has its own tests)."""
    account = connections.save(
        user,
        "mastodon",
        Connection(
            remote_id=fake.accounts[username].id,
            handle=f"@{username}@{fake.url.split('//')[1]}",
            instance_url=fake.url,
            access_token=fake.token_for(username),
            scopes="read:accounts write:accounts",
        ),
    )
    db.session.commit()
    return account


def variant_bytes(app, image: Image, preset_key: str) -> bytes:
    return app.extensions["storage"].get(image.variant(preset_key).storage_key)


def settle(run_jobs, release_id: int, timeout: float = 20) -> SyncRequest:
    """Run jobs (delayed ones once due) until no automatic task of the release is left."""
    deadline = time.monotonic() + timeout
    while True:
        run_jobs(scheduled=True)
        db.session.expire_all()
        release = db.session.get(SyncRequest, release_id)
        if release.is_settled or time.monotonic() > deadline:
            return release
        time.sleep(0.1)


def task_of(release: SyncRequest, slot: str) -> SyncTask:
    return next(task for task in release.tasks if task.slot == slot)


def wait_for(predicate: Callable[[], bool], timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def unfinished(release: SyncRequest) -> list[SyncTask]:
    return [task for task in release.tasks if task.status in UNFINISHED]
