"""The durations the admin page reports are measured where the work happens: the engine times
each platform call (failures too), the image job times making the files."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import SyncTask, TaskStatus
from app.services.ops import pipeline, platforms
from app.services.sync import releases
from tests.images import add_user
from tests.sync_support import connect_mastodon, ready_images, settle, task_of

LATENCY = 0.25  # seconds the loopback Mastodon waits before every API answer


@pytest.fixture
def pat(app):
    return add_user("pat@example.com")


@pytest.fixture
def alice(pat, fake_mastodon):
    return connect_mastodon(pat, fake_mastodon)


def test_the_engine_records_how_long_each_push_took_including_a_refused_one(
    app, pat, alice, fake_mastodon, run_jobs
):
    ready_images(pat, run_jobs)
    fake_mastodon.chaos(fault_rate=0.0, latency=(LATENCY, LATENCY))
    fake_mastodon.fail_next(422, error="Validation failed: Header is too large")
    release = releases.start(pat)
    db.session.commit()
    release = settle(run_jobs, release.id)

    statuses = sorted(t.status for t in release.tasks)
    assert statuses == [TaskStatus.FAILED, TaskStatus.SUCCEEDED]
    for task in release.tasks:
        # The call itself, not the whole attempt: well over the platform's wait, under two.
        assert LATENCY * 1000 <= task.push_ms < 2 * LATENCY * 1000 + 1000, task.push_ms

    [mastodon] = [p for p in platforms.health() if p.key == "mastodon"]
    assert (mastodon.hour.succeeded, mastodon.hour.failed) == (1, 1)
    times = sorted(t.push_ms for t in release.tasks)
    assert mastodon.hour.median_ms == sum(times) / 2


def test_a_push_that_is_not_attempted_records_no_duration(app, pat, alice, fake_mastodon, run_jobs):
    ready_images(pat, run_jobs)
    first = releases.start(pat)
    db.session.commit()
    settle(run_jobs, first.id)
    again = releases.start(pat)
    db.session.commit()
    again = settle(run_jobs, again.id)

    skipped = task_of(again, "avatar")
    assert skipped.status is TaskStatus.SKIPPED and skipped.push_ms is None


def test_processing_an_image_records_how_long_it_took(app, pat, run_jobs):
    avatar, banner = ready_images(pat, run_jobs)

    for image in (avatar, banner):
        assert image.processed_at is not None
        assert image.processing_ms is not None and image.processing_ms >= 1
    numbers = pipeline.health()
    assert numbers.hour.processed == 2 and numbers.day.processed == 2
    assert numbers.hour.median_ms == (avatar.processing_ms + banner.processing_ms) / 2
    assert db.session.query(SyncTask).count() == 0
