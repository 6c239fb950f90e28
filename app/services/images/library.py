"""Uploads, crops and processed variants: the database and storage side of the image pipeline.

Services never commit: routes and jobs do. Storage objects are content-hashed and may be shared by
several rows (two users uploading the same photo), so an object is deleted only once no row
refers to it, and only after the transaction that dropped the last reference has committed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from sqlalchemy import event, func, select, union, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.infra.storage import Storage, StorageKeyNotFound, content_hashed_key
from app.jobs import enqueue_on_commit
from app.models.image import Image, ImageKind, ImageStatus, ImageVariant
from app.services.exceptions import Conflict, DomainError
from app.services.images import pipeline, presets

log = logging.getLogger(__name__)

EXTENSIONS = {
    "jpeg": "jpg",
    "png": "png",
    "webp": "webp",
    "gif": "gif",
    "heif": "heic",
    "avif": "avif",
}
# The cropper works on an upright JPEG copy: browsers cannot show HEIC, and a 50 MP original
# would make the page crawl. Crop boxes are still saved in the original's pixels.
EDITOR_MAX_SIDE = 1600
EDITOR_MAX_BYTES = 3_000_000
ORIGINAL_MISSING = "The uploaded file is missing from storage. Upload the image again."
PROCESSING_FAILED = "Processing failed because of an unexpected error. Try again in a moment."


def storage() -> Storage:
    return current_app.extensions["storage"]


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
    """Validate and store an upload; returns (image, created).

    The same bytes uploaded again by the same person for the same kind return the existing row.
    Nothing is stored for an invalid file: inspect() raises before any write.
    """
    kind = parse_kind(kind)
    info = pipeline.inspect(data, kind.value, max_pixels=current_app.config["MAX_IMAGE_PIXELS"])
    sha256 = hashlib.sha256(data).hexdigest()
    if existing := _find(user_id, kind, sha256):
        return _revive(existing), False
    key = content_hashed_key("originals", data, EXTENSIONS[info.format])
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
            return _revive(existing), False
        image.is_current = False
        db.session.add(image)
        db.session.flush()
    _enqueue(image)
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


def _revive(image: Image) -> Image:
    """Uploading a failed image again is how a person retries it."""
    if image.status is ImageStatus.FAILED:
        image.status, image.error = ImageStatus.UPLOADED, None
        _enqueue(image)
    return image


def _enqueue(image: Image) -> None:
    enqueue_on_commit("process_image", image.id)


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
    image.status, image.error = ImageStatus.UPLOADED, None
    image.revision += 1
    _enqueue(image)
    return image


def presets_for(image: Image) -> tuple[presets.Preset, ...]:
    return presets.for_kind(image.kind.value)


def save_crop(image: Image, data: dict[str, Any] | None) -> Image:
    """Store a new crop and queue re-processing; raises DomainError (422) for a bad crop."""
    if not isinstance(data, dict | None):
        raise DomainError("The crop must be a JSON object.", status=422, code="invalid_crop")
    crop = pipeline.Crop.from_json(data)
    keys = {p.key for p in presets_for(image)}
    if unknown := sorted(set(crop.overrides) - keys):
        raise DomainError(
            f"Unknown preset in crop: {', '.join(unknown)}.", status=422, code="invalid_crop"
        )
    for preset in presets_for(image):  # raises when a box lies outside the image
        pipeline.crop_box_for(preset, crop, image.width, image.height)
    image.crop = crop.to_json()
    image.revision += 1  # a job still working on the old crop will not save its result
    image.status, image.error = ImageStatus.UPLOADED, None
    _enqueue(image)
    return image


def set_current(image: Image) -> Image:
    if image.status is ImageStatus.FAILED:
        raise Conflict(f"This image could not be processed, so it cannot be your {image.kind}.")
    db.session.execute(
        update(Image)
        .where(
            Image.user_id == image.user_id,
            Image.kind == image.kind,
            Image.id != image.id,
            Image.is_current.is_(True),
        )
        .values(is_current=False)
    )
    db.session.flush()  # the partial unique index allows one current image per kind
    image.is_current = True
    return image


def delete_image(image: Image) -> None:
    """Delete the row and its variants; stored files go once nothing else refers to them."""
    keys = _keys_of(image)
    db.session.delete(image)
    db.session.flush()
    delete_unreferenced_after_commit(keys)


def _keys_of(image: Image) -> set[str]:
    keys = {image.original_key, *(v.storage_key for v in image.variants)}
    if image.preview_key:
        keys.add(image.preview_key)
    return keys


# --- the worker side -------------------------------------------------------------------------


def editor_preset(image: Image) -> presets.Preset:
    """A preset for the whole upright image, at most EDITOR_MAX_SIDE on its longest side."""
    scale = min(1.0, EDITOR_MAX_SIDE / max(image.width, image.height))
    width, height = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    return presets.Preset(
        "editor",
        image.kind.value,
        "linkarooie",
        width,
        height,
        EDITOR_MAX_BYTES,
        ("jpeg",),
        "rect",
        "Editor copy",
        fixed=False,
    )


def render(
    image: Image, *, max_pixels: int = pipeline.MAX_PIXELS
) -> tuple[list[pipeline.Variant], pipeline.Variant | None]:
    """Make every variant (and the editor copy when missing), in memory.

    Slow (Pillow): the job calls this outside any row lock. Nothing is stored yet, so a render
    that turns out to be stale (the crop changed meanwhile) leaves nothing to clean up.
    """
    try:
        data = storage().get(image.original_key)
    except StorageKeyNotFound:
        raise DomainError(ORIGINAL_MISSING, status=410, code="original_missing") from None
    crop = pipeline.Crop.from_json(image.crop)
    variants = pipeline.make_variants(data, crop, presets_for(image), max_pixels=max_pixels)
    editor = None
    if not image.preview_key:
        editor = pipeline.make_variants(
            data, pipeline.Crop(), [editor_preset(image)], max_pixels=max_pixels
        )[0]
    return variants, editor


def _variant_key(variant: pipeline.Variant) -> str:
    prefix = "previews" if variant.preset_key == "editor" else "variants"
    return content_hashed_key(prefix, variant.data, EXTENSIONS[variant.format])


def record_variants(
    image: Image, variants: list[pipeline.Variant], editor: pipeline.Variant | None
) -> None:
    """Store the files, replace the image's variant rows and mark it ready.

    Old files nothing refers to any more are deleted after the commit.
    """
    for variant in [*variants, editor] if editor else variants:
        storage().put(_variant_key(variant), variant.data, variant.mime)
    old_keys = {v.storage_key for v in image.variants}
    image.variants.clear()
    db.session.flush()  # the old rows go first: (image, preset) is unique
    for variant in variants:
        image.variants.append(
            ImageVariant(
                preset_key=variant.preset_key,
                storage_key=_variant_key(variant),
                width=variant.width,
                height=variant.height,
                bytes=len(variant.data),
                format=variant.format,
                mime=variant.mime,
            )
        )
    if editor is not None:
        image.preview_key = _variant_key(editor)
    image.status, image.error = ImageStatus.READY, None
    image.processed_at = datetime.now(UTC)
    db.session.flush()
    delete_unreferenced_after_commit(old_keys - {v.storage_key for v in image.variants})


def mark_failed(image: Image, exc: Exception) -> None:
    image.status = ImageStatus.FAILED
    image.error = exc.message if isinstance(exc, DomainError) else PROCESSING_FAILED


# --- storage clean-up ----------------------------------------------------------------------


def referenced(keys: Iterable[str]) -> set[str]:
    """The subset of `keys` that some row (in this transaction's view) still uses."""
    keys = set(keys)
    if not keys:
        return set()
    query = union(
        select(Image.original_key).where(Image.original_key.in_(keys)),
        select(Image.preview_key).where(Image.preview_key.in_(keys)),
        select(ImageVariant.storage_key).where(ImageVariant.storage_key.in_(keys)),
    )
    return set(db.session.scalars(query))


def delete_unreferenced_after_commit(keys: Iterable[str]) -> None:
    if orphans := set(keys) - referenced(keys):
        db.session.info.setdefault("storage_deletes", set()).update(orphans)


@event.listens_for(db.session, "after_commit")
def _delete_orphans(session) -> None:
    for key in sorted(session.info.pop("storage_deletes", ())):
        try:
            storage().delete(key)
        except Exception:  # the row is gone either way; a stray object costs only bytes
            log.exception("could not delete stored object %s", key)


@event.listens_for(db.session, "after_rollback")
def _keep_objects(session) -> None:
    session.info.pop("storage_deletes", None)
