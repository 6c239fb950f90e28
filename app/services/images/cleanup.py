"""Removing stored image files: only in jobs, only once no row refers to them.

Two ways a file goes: `delete_unreferenced` for the keys a delete or a re-crop let go of (queued
after the commit, re-checked under the owner's lock), and `sweep_orphans`, which lists storage and
removes what no row refers to and is older than a grace period, so an upload still in flight
(stored, row not yet committed) is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, union

from app.extensions import db
from app.models.image import Image, ImageVariant
from app.models.platform import AccountSlot
from app.services.images import keys
from app.services.images.library import lock_owner, storage

log = logging.getLogger(__name__)

BATCH = 500


def referenced(candidates: Iterable[str]) -> set[str]:
    """The subset of `candidates` that some row (in this transaction's view) still uses."""
    wanted = set(candidates)
    if not wanted:
        return set()
    query = union(
        select(Image.original_key).where(Image.original_key.in_(wanted)),
        select(Image.preview_key).where(Image.preview_key.in_(wanted)),
        select(ImageVariant.storage_key).where(ImageVariant.storage_key.in_(wanted)),
        select(AccountSlot.live_key).where(AccountSlot.live_key.in_(wanted)),
    )
    return set(db.session.scalars(query))


def delete_unreferenced(user_id: int, candidates: Iterable[str]) -> list[str]:
    """Delete those of `candidates` (keys of `user_id`'s files) that no row uses; returns them.

    Under the owner's lock, so an upload or a job storing the same bytes for this person either
    committed before (we see its row and keep the file) or stores after we are done.
    """
    lock_owner(user_id)
    orphans = sorted(set(candidates) - referenced(candidates))
    for key in orphans:
        storage().delete(key)
    return orphans


def sweep_orphans(older_than: datetime) -> list[str]:
    """Delete every image file no row refers to, last written before `older_than`."""
    deleted: list[str] = []
    for prefix in keys.PREFIXES:
        old = [obj.key for obj in storage().list(prefix) if obj.modified < older_than]
        for start in range(0, len(old), BATCH):
            batch = old[start : start + BATCH]
            for key in sorted(set(batch) - referenced(batch)):
                storage().delete(key)
                deleted.append(key)
    if deleted:
        log.info("swept %d orphaned image file(s)", len(deleted))
    return deleted
