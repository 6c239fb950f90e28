"""The image pipeline's numbers for the admin page, from the images table.

Processed: images whose files were made in the window (processed_at). Failed: images that are
failed now and changed in the window (updated_at: a failure is the row's last change). Median
processing time: processing_ms of the images processed in the window. Waiting: images queued
or being processed right now.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.models import Image, ImageStatus

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SAMPLES = 5000  # newest processing times read per window: a stable median, bounded memory


@dataclass(frozen=True)
class PipelineWindow:
    processed: int
    failed: int
    median_ms: float | None


@dataclass(frozen=True)
class PipelineHealth:
    hour: PipelineWindow
    day: PipelineWindow
    waiting: int


def health(now: datetime | None = None) -> PipelineHealth:
    now = now or datetime.now(UTC)
    waiting = db.session.scalar(
        select(func.count())
        .select_from(Image)
        .where(Image.status.in_((ImageStatus.UPLOADED, ImageStatus.PROCESSING)))
    )
    return PipelineHealth(_window(now - HOUR), _window(now - DAY), int(waiting or 0))


def _window(since: datetime) -> PipelineWindow:
    processed = db.session.scalar(
        select(func.count()).select_from(Image).where(Image.processed_at >= since)
    )
    failed = db.session.scalar(
        select(func.count())
        .select_from(Image)
        .where(Image.status == ImageStatus.FAILED, Image.updated_at >= since)
    )
    times = list(
        db.session.scalars(
            select(Image.processing_ms)
            .where(Image.processed_at >= since, Image.processing_ms.is_not(None))
            .order_by(Image.processed_at.desc())
            .limit(SAMPLES)
        )
    )
    return PipelineWindow(
        int(processed or 0), int(failed or 0), statistics.median(times) if times else None
    )
