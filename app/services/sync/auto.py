"""Syncing a newly current image at once, for people who asked for it in their preferences.
Only an explicit "make current" comes here: an upload that becomes current because it is the
person's first of its kind does not. Never commits."""

from __future__ import annotations

from dataclasses import dataclass

from app.extensions import db
from app.models import Image, ImageKind, SyncRequest, User
from app.services.sync import preferences, releases


@dataclass(frozen=True)
class AutoSync:
    release: SyncRequest | None = None
    # Why nothing started although auto-sync is on (no account, every account has the slot off…)
    skipped: str | None = None


def after_made_current(user: User, image: Image) -> AutoSync:
    """Push `image` (its slot only; the other image stays as it is) to the default targets."""
    if not preferences.of(user).auto_sync:
        return AutoSync()
    is_avatar = image.kind is ImageKind.AVATAR
    try:
        # A savepoint: a sync that cannot start must not undo the image becoming current.
        with db.session.begin_nested():
            release = releases.start(
                user,
                avatar_id=image.id if is_avatar else None,
                banner_id=None if is_avatar else image.id,
                use_current=False,
            )
    except releases.NothingToSync as exc:
        return AutoSync(skipped=exc.message)
    return AutoSync(release=release)
