"""Uploads, crops, the current image and deletes: the request side of the image pipeline.

Services never commit: routes and jobs do. Stored objects are keyed per owner (keys.py), so only
one person's rows can share an object. Nothing is deleted from storage in a web request: a
delete queues `delete_stored_files`, which re-checks references first (cleanup.py).

Every change that makes new files bumps `revision` in SQL (never read-modify-write in Python,
which loses one of two concurrent crops) and queues `process_image(id, revision)`; the job's
final write is compare-and-set on that revision (processing.py).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.infra.storage import Storage
from app.jobs import enqueue_on_commit
from app.models.image import Image, ImageKind, ImageStatus, ImageVariant
from app.models.user import User
from app.services import analytics
from app.services.exceptions import Conflict, DomainError, NotFound
from app.services.images import keys, pipeline, presets

log = logging.getLogger(__name__)

EXTENSIONS = {
    "jpeg": "jpg",
    "png": "png",
    "webp": "webp",
    "gif": "gif",
    "heif": "heic",
    "avif": "avif",
}
ORIGINAL_MISSING = "The uploaded file is missing from storage. Upload the image again."
PROCESSING_FAILED = "Processing failed because of an unexpected error. Try again in a moment."
MB = 1024 * 1024


def storage() -> Storage:
    return current_app.extensions["storage"]


def lock_owner(user_id: int) -> None:
    """Serialise one person's storage changes (uploads, file writes, deletes, current image).

    FOR NO KEY UPDATE on the user row: it does not block inserts that merely reference the user.
    SQLite ignores it; there a single writer at a time gives the same order.
    """
    db.session.execute(select(User.id).where(User.id == user_id).with_for_update(key_share=True))


def memory_budget() -> int:
    return current_app.config["IMAGE_MEMORY_BUDGET_MB"] * MB


def parse_kind(value: str | None) -> ImageKind:
    try:
        return ImageKind((value or "").strip().lower())
    except ValueError:
        raise DomainError(
            "Choose whether the image is an avatar or a banner.", status=400, code="invalid_kind"
        ) from None


def create_upload(
    user_id: int, kind: ImageKind | str, data: bytes, filename: str = ""
) -> tuple[Image, bool]:
    """Check (header only) and store an upload; returns (image, created).

    The same bytes uploaded again by the same person for the same kind return the existing row,
    stored again if the object went missing. Nothing is stored for a file the checks refuse.
    """
    kind = parse_kind(kind)
    info = pipeline.inspect(
        data,
        kind.value,
        max_pixels=current_app.config["MAX_IMAGE_PIXELS"],
        memory_budget=memory_budget(),
    )
    sha256 = hashlib.sha256(data).hexdigest()
    lock_owner(user_id)  # the quota check and a delete job both see this upload whole
    if existing := _find(user_id, kind, sha256):
        return _revive(existing, data), False
    _check_quota(user_id, len(data))
    key = keys.owner_key("originals", user_id, sha256, EXTENSIONS[info.format])
    storage().put(key, data, info.mime)
    image = Image(
        user_id=user_id,
        kind=kind,
        original_key=key,
        sha256=sha256,
        width=info.width,
        height=info.height,
        format=info.format,
        mime=info.mime,
        bytes=len(data),
        filename=(filename or "")[:255],
        status=ImageStatus.UPLOADED,
        # the first avatar (or banner) someone uploads is the one they mean to use
        is_current=_current(user_id, kind) is None,
    )
    try:
        with db.session.begin_nested():  # a savepoint: a lost race must not end the transaction
            db.session.add(image)
    except IntegrityError:
        # A parallel request stored the same bytes (or made a current image) first.
        if existing := _find(user_id, kind, sha256):
            return _revive(existing, data), False
        image.is_current = False
        db.session.add(image)
        db.session.flush()
    _enqueue(image)
    analytics.record("upload", user_id, subject=kind.value)
    return image, True


def _find(user_id: int, kind: ImageKind, sha256: str) -> Image | None:
    return db.session.scalar(
        select(Image).where(Image.user_id == user_id, Image.kind == kind, Image.sha256 == sha256)
    )


def _current(user_id: int, kind: ImageKind) -> Image | None:
    return db.session.scalar(
        select(Image).where(
            Image.user_id == user_id, Image.kind == kind, Image.is_current.is_(True)
        )
    )


def _revive(image: Image, data: bytes) -> Image:
    """Uploading the same file again is how a person retries it: a failed image is processed
    again, and an original that went missing from storage is stored again first."""
    if not storage().exists(image.original_key):
        log.warning("image %s: original missing from storage, stored again", image.id)
        storage().put(image.original_key, data, image.mime)
        _bump(image, status=ImageStatus.UPLOADED, error=None)
        _enqueue(image)
    elif image.status is ImageStatus.FAILED:
        _bump(image, status=ImageStatus.UPLOADED, error=None)
        _enqueue(image)
    return image


def _check_quota(user_id: int, size: int) -> None:
    quota = current_app.config["STORAGE_QUOTA_MB"] * MB
    if quota <= 0:
        return
    originals = select(func.coalesce(func.sum(Image.bytes), 0)).where(Image.user_id == user_id)
    variants = (
        select(func.coalesce(func.sum(ImageVariant.bytes), 0))
        .join(Image, Image.id == ImageVariant.image_id)
        .where(Image.user_id == user_id)
    )
    used = db.session.scalar(originals) + db.session.scalar(variants)
    if used + size > quota:
        raise DomainError(
            f"Your images already use {used / MB:.1f} MB of your {quota // MB} MB of storage, "
            f"and this file is {size / MB:.1f} MB. Delete images you no longer need to make room.",
            status=413,
            code="quota_exceeded",
        )


def _bump(image: Image, **values: Any) -> int:
    """Start a new revision in SQL (revision = revision + 1) and return it.

    Computed by the database, so two concurrent changes get two revisions and the job for the
    older one cannot save over the newer one."""
    revision = db.session.execute(
        update(Image)
        .where(Image.id == image.id)
        .values(revision=Image.revision + 1, **values)
        .returning(Image.revision)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if revision is None:
        raise _deleted()
    db.session.refresh(image, ["revision", *values])
    return revision


def _deleted() -> NotFound:
    # the row went between this request reading it and changing it (deleted in another tab)
    return NotFound("That image has been deleted.")


def _enqueue(image: Image) -> None:
    enqueue_on_commit("process_image", image.id, image.revision)


def requeue_stale(cutoff: datetime) -> list[int]:
    """Queue again every image still waiting for a job last touched before `cutoff`.

    Redis only carries work: if it lost the job (flush, restart, a crashed worker), the row still
    says uploaded/processing. Touching `updated_at` makes it wait another full period before the
    next retry, so a stopped worker does not pile up duplicates.
    """
    stale = list(
        db.session.scalars(
            select(Image).where(
                Image.status.in_((ImageStatus.UPLOADED, ImageStatus.PROCESSING)),
                Image.updated_at < cutoff,
            )
        )
    )
    for image in stale:
        image.updated_at = func.now()
        _enqueue(image)
    return [image.id for image in stale]


def reprocess(image: Image) -> Image:
    """Make every variant again (after a preset change, or to retry a failure)."""
    _bump(image, status=ImageStatus.UPLOADED, error=None)
    _enqueue(image)
    return image


def presets_for(image: Image) -> tuple[presets.Preset, ...]:
    return presets.for_kind(image.kind.value)


def save_crop(image: Image, data: dict[str, Any] | None) -> Image:
    """Store a new crop and queue re-processing; raises DomainError (422) for a bad crop."""
    if not isinstance(data, dict | None):
        raise DomainError("The crop must be a JSON object.", status=422, code="invalid_crop")
    crop = pipeline.Crop.from_json(data)
    keys_ = {p.key for p in presets_for(image)}
    if unknown := sorted(set(crop.overrides) - keys_):
        raise DomainError(
            f"Unknown preset in crop: {', '.join(unknown)}.", status=422, code="invalid_crop"
        )
    for preset in presets_for(image):  # raises when a box lies outside the image
        pipeline.crop_box_for(preset, crop, image.width, image.height)
    _bump(image, crop=crop.to_json(), status=ImageStatus.UPLOADED, error=None)
    _enqueue(image)
    analytics.record("crop_save", image.user_id, subject=image.kind.value)
    return image


def set_current(image: Image) -> Image:
    if image.status is ImageStatus.FAILED:
        raise Conflict(f"This image could not be processed, so it cannot be your {image.kind}.")
    # Two requests at once would each clear the other's *old* pointer and then both set theirs,
    # tripping the one-current-per-kind index: take turns per person instead.
    lock_owner(image.user_id)
    if db.session.scalar(select(Image.id).where(Image.id == image.id)) is None:
        raise _deleted()
    db.session.execute(
        update(Image)
        .where(
            Image.user_id == image.user_id,
            Image.kind == image.kind,
            Image.id != image.id,
            Image.is_current.is_(True),
        )
        .values(is_current=False)
        .execution_options(synchronize_session="fetch")
    )
    db.session.flush()  # the partial unique index allows one current image per kind
    image.is_current = True
    return image


def delete_image(image: Image) -> None:
    """Delete the row and its variants now; their files go in a job after the commit.

    The keys come back from the DELETEs themselves (RETURNING), not from what this request read
    earlier: a job that finished meanwhile may have replaced every variant.
    """
    user_id, image_id = image.user_id, image.id
    db.session.expunge(image)
    removed = delete_variants(image_id)
    row = db.session.execute(
        delete(Image)
        .where(Image.id == image_id)
        .returning(Image.original_key, Image.preview_key)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    if row is not None:
        removed.update(key for key in row if key)
    if removed:
        enqueue_on_commit("delete_stored_files", user_id, sorted(removed))


def delete_variants(image_id: int) -> set[str]:
    """Delete an image's variant rows; the storage keys they held, as the DELETE returned them."""
    return set(
        db.session.scalars(
            delete(ImageVariant)
            .where(ImageVariant.image_id == image_id)
            .returning(ImageVariant.storage_key)
            .execution_options(synchronize_session=False)
        )
    )
