"""Image jobs: process_image makes every platform's file; the other two remove stored files."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from flask import current_app

from app.extensions import db
from app.infra import row_security
from app.jobs import IMAGES, job
from app.models.image import Image, ImageStatus
from app.services.exceptions import DomainError
from app.services.images import cleanup, processing
from app.services.notifications import events
from app.services.webhooks import endpoints as webhooks

log = logging.getLogger(__name__)


@job(IMAGES)
def process_image(image_id: int, revision: int | None = None) -> None:
    """Make the files for one revision of an image (without `revision`: its latest).

    Idempotent: a ready image is left alone, and a run for an older revision (a newer crop was
    saved, or the image was deleted) saves nothing and leaves no file behind. Any failure leaves
    the image `failed` with a reason a person can read; the job can be re-run.
    """
    image = db.session.get(Image, image_id)
    if image is None:
        return  # deleted meanwhile
    if revision is None:
        revision = image.revision
    if image.revision != revision or image.status is ImageStatus.READY:
        return  # a newer revision has its own job, or a duplicate delivery
    user_id = image.user_id
    row_security.only(user_id)  # the rest of this job is one person's work
    if not processing.start(image_id, revision):
        db.session.rollback()
        return
    db.session.commit()  # the card shows "processing" while Pillow works

    started = time.perf_counter()
    try:
        image = db.session.get(Image, image_id)
        if image is None:
            return
        max_pixels = current_app.config["MAX_IMAGE_PIXELS"]
        variants, editor, focus = processing.render(image, max_pixels=max_pixels)
        elapsed = time.perf_counter() - started
        if processing.record_variants(
            image_id,
            user_id,
            revision,
            variants,
            editor,
            processing_ms=round(elapsed * 1000),
            found_focus=focus,
        ):
            log.info("image %s processed: %d variants in %.2fs", image_id, len(variants), elapsed)
            if webhooks.subscribed(user_id, "image.ready"):
                kind = db.session.get(Image, image_id).kind.value
                events.emit(user_id, "image.ready", image_id=image_id, kind=kind)
        else:
            log.info("image %s changed while processing; its newer job finishes it", image_id)
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        if not isinstance(exc, DomainError):
            log.error("image %s failed to process", image_id, exc_info=exc)
        failed = processing.mark_failed(image_id, revision, exc)
        db.session.commit()
        if failed and not isinstance(exc, DomainError):
            raise  # unexpected: keep it in RQ's failed registry too, for the admin page


@job(IMAGES)
def delete_stored_files(user_id: int, keys: list[str]) -> None:
    """Delete the files a deleted image (or a replaced crop) let go of, unless still in use."""
    row_security.only(user_id)
    deleted = cleanup.delete_unreferenced(user_id, keys)
    db.session.commit()
    log.info("deleted %d of %d stored file(s) for user %s", len(deleted), len(keys), user_id)


@job(IMAGES)
def sweep_orphaned_files(grace_seconds: int | None = None) -> int:
    """Delete image files no row refers to and older than the grace period; returns how many.

    Periodic. The grace period (ORPHAN_GRACE_SECONDS) keeps files of uploads still in flight.
    """
    if grace_seconds is None:
        grace_seconds = current_app.config["ORPHAN_GRACE_SECONDS"]
    cutoff = datetime.now(UTC) - timedelta(seconds=grace_seconds)
    deleted = cleanup.sweep_orphans(cutoff)
    db.session.commit()
    return len(deleted)
