"""The worker side of the image pipeline: render one revision, then save it compare-and-set.

A job works on (image id, revision). Rendering (slow, Pillow) happens outside any lock and
stores nothing. The files are then stored under the owner's lock, and the row is updated only
`WHERE revision = :revision`: if a newer crop or a delete got there first, nothing is saved and
the files this run stored are removed again (unless some row uses them).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select, update

from app.extensions import db
from app.infra.storage import StorageKeyNotFound
from app.jobs import enqueue_on_commit
from app.models.image import Image, ImageStatus, ImageVariant
from app.services.exceptions import DomainError
from app.services.images import cleanup, focus, keys, pipeline, presets
from app.services.images.library import (
    EXTENSIONS,
    ORIGINAL_MISSING,
    PROCESSING_FAILED,
    delete_variants,
    lock_owner,
    memory_budget,
    presets_for,
    storage,
)

log = logging.getLogger(__name__)

# The cropper works on an upright JPEG copy: browsers cannot show HEIC, and a 50 MP original
# would make the page crawl. Crop boxes are still saved in the original's pixels.
EDITOR_MAX_SIDE = 1600
EDITOR_MAX_BYTES = 3_000_000


def start(image_id: int, revision: int) -> bool:
    """Mark the image processing if `revision` is still its latest and it is not done yet."""
    result = db.session.execute(
        update(Image)
        .where(
            Image.id == image_id,
            Image.revision == revision,
            Image.status != ImageStatus.READY,
        )
        .values(status=ImageStatus.PROCESSING)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


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
) -> tuple[list[pipeline.Variant], pipeline.Variant | None, dict | None]:
    """Make every variant (and the editor copy when missing), in memory; stores nothing.
    Returns (variants, editor copy or None, focus found now or None).

    The header checks run again first (the memory budget may be lower than at upload), so an
    image too demanding to decode fails with a reason instead of the worker running out of
    memory. The focus is looked for once, on the editor copy; until the person frames the
    picture themselves, the files are centred on it (pipeline.first_crop).
    """
    try:
        data = storage().get(image.original_key)
    except StorageKeyNotFound:
        raise DomainError(ORIGINAL_MISSING, status=410, code="original_missing") from None
    pipeline.check_budget(data, max_pixels=max_pixels, memory_budget=memory_budget())
    editor = None
    if not image.preview_key:
        editor = pipeline.make_variants(
            data, pipeline.Crop(), [editor_preset(image)], max_pixels=max_pixels
        )[0]
    found = None if image.focus is not None else _find_focus(image, editor)
    kind_presets = presets_for(image)
    crop = pipeline.first_crop(
        pipeline.Crop.from_json(image.crop),
        image.focus or found,
        kind_presets,
        image.width,
        image.height,
    )
    variants = pipeline.make_variants(data, crop, kind_presets, max_pixels=max_pixels)
    return variants, editor, found


def _find_focus(image: Image, editor: pipeline.Variant | None) -> dict | None:
    """The focus from the editor copy just made or the stored one (images from before focus
    detection); None when it cannot be had now (the next run tries again)."""
    try:
        preview = editor.data if editor else storage().get(image.preview_key)
    except StorageKeyNotFound:
        log.warning("image %s: editor copy missing, no focus this time", image.id)
        return None
    return focus.detect(preview, image.kind.value, image.width, image.height)


def _key(user_id: int, variant: pipeline.Variant) -> str:
    prefix = "previews" if variant.preset_key == "editor" else "variants"
    return keys.owner_key_for(prefix, user_id, variant.data, EXTENSIONS[variant.format])


def record_variants(
    image_id: int,
    user_id: int,
    revision: int,
    variants: list[pipeline.Variant],
    editor: pipeline.Variant | None,
    *,
    processing_ms: int | None = None,
    found_focus: dict | None = None,
) -> bool:
    """Store the files and, if `revision` is still the image's, replace its variant rows and
    mark it ready. Returns False (and leaves nothing behind) when the run turned out stale.
    `processing_ms`: how long rendering took, kept for the admin page's pipeline numbers;
    `found_focus`: the focus this run found (render's third value), saved with the files."""
    lock_owner(user_id)  # a delete job for this person cannot remove what we are about to use
    if db.session.scalar(select(Image.revision).where(Image.id == image_id)) != revision:
        return False  # stale before we stored anything
    stored = {_key(user_id, v): v for v in ([*variants, editor] if editor else variants)}
    for key, variant in stored.items():
        storage().put(key, variant.data, variant.mime)
    values = {
        "status": ImageStatus.READY,
        "error": None,
        "processed_at": datetime.now(UTC),
        "processing_ms": processing_ms,
    }
    if editor is not None:
        values["preview_key"] = _key(user_id, editor)
    if found_focus is not None:
        values["focus"] = found_focus
    saved = db.session.execute(
        update(Image)
        .where(Image.id == image_id, Image.revision == revision)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if saved.rowcount != 1:  # a crop or a delete won the race after our check
        cleanup.delete_unreferenced(user_id, stored)
        return False
    old = delete_variants(image_id)
    # a list, not a dict: two presets may make identical bytes, which share one object
    new = [(_key(user_id, v), v) for v in variants]
    db.session.add_all(
        ImageVariant(
            image_id=image_id,
            preset_key=v.preset_key,
            storage_key=key,
            width=v.width,
            height=v.height,
            bytes=len(v.data),
            format=v.format,
            mime=v.mime,
        )
        for key, v in new
    )
    db.session.flush()
    if unused := old - {key for key, _ in new}:
        enqueue_on_commit("delete_stored_files", user_id, sorted(unused))
    return True


def mark_failed(image_id: int, revision: int, exc: Exception) -> bool:
    """Fail the image with a readable reason, unless a newer revision (or a delete) took over."""
    error = exc.message if isinstance(exc, DomainError) else PROCESSING_FAILED
    result = db.session.execute(
        update(Image)
        .where(Image.id == image_id, Image.revision == revision)
        .values(status=ImageStatus.FAILED, error=error)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
