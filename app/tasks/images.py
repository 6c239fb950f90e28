"""process_image: turn an upload (and its crop) into every platform's file."""

from __future__ import annotations

import logging
import time

from flask import current_app

from app.extensions import db
from app.jobs import IMAGES, job
from app.models.image import Image, ImageStatus
from app.services.exceptions import DomainError
from app.services.images import library

log = logging.getLogger(__name__)


@job(IMAGES)
def process_image(image_id: int) -> None:
    """Idempotent: a ready image is left alone, and a run that lost to a newer crop saves nothing.

    Any failure leaves the image `failed` with a reason a person can read; the job can be re-run.
    """
    image = db.session.get(Image, image_id)
    if image is None or image.status is ImageStatus.READY:
        return  # deleted meanwhile, or a duplicate delivery
    revision = image.revision
    image.status = ImageStatus.PROCESSING
    db.session.commit()  # the card shows "processing" while Pillow works

    started = time.perf_counter()
    try:
        variants, editor = library.render(image, max_pixels=current_app.config["MAX_IMAGE_PIXELS"])
    except Exception as exc:
        _fail(image_id, revision, exc)
        if not isinstance(exc, DomainError):
            raise  # unexpected: keep it in RQ's failed registry too, for the admin page
        return

    # Lock the row while storing, so a crop saved meanwhile is either before us (we see the new
    # revision and leave it to its own job, having stored nothing) or after us (it waits, then
    # queues a run that replaces our files). Storing only under the lock means a stale run can
    # never delete or overwrite files a newer run is about to use.
    image = db.session.get(Image, image_id, with_for_update=True, populate_existing=True)
    try:
        if image is None or image.revision != revision:
            log.info("image %s changed while processing; its newer job finishes it", image_id)
        else:
            library.record_variants(image, variants, editor)
            log.info(
                "image %s processed: %d variants in %.2fs",
                image_id,
                len(variants),
                time.perf_counter() - started,
            )
        db.session.commit()
    except Exception as exc:
        _fail(image_id, revision, exc)
        raise


def _fail(image_id: int, revision: int, exc: Exception) -> None:
    db.session.rollback()
    if not isinstance(exc, DomainError):
        log.error("image %s failed to process", image_id, exc_info=exc)
    image = db.session.get(Image, image_id, with_for_update=True, populate_existing=True)
    if image is not None and image.revision == revision:  # a newer crop gets its own run
        library.mark_failed(image, exc)
        db.session.commit()
