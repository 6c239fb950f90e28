"""The sync engine against a loopback Mastodon that follows the documented API: every task's
life from queued to its end, on both deployments (RQ on Redis, and the in-process worker)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from app.models import AccountStatus, PlatformAccount, SyncTask, TaskStatus
from app.services.sync import engine, releases
from app.tasks.maintenance import reconcile
from tests.conftest import empty_queues
from tests.images import add_user
from tests.sync_support import (
    connect_mastodon,
    ready_images,
    settle,
    task_of,
    variant_bytes,
)


@pytest.fixture
def pat(app):
    return add_user("pat@example.com")


@pytest.fixture
def alice(pat, fake_mastodon):
    return connect_mastodon(pat, fake_mastodon)


def test_a_sync_pushes_both_images_and_the_instance_shows_exactly_our_files(
    app, pat, alice, fake_mastodon, run_jobs
):
    avatar, banner = ready_images(pat, run_jobs)
    release = releases.start(pat)
    db.session.commit()
    release = settle(run_jobs, release.id)

    assert release.status == "succeeded"
    assert {t.slot: t.status for t in release.tasks} == {
        "avatar": TaskStatus.SUCCEEDED,
        "banner": TaskStatus.SUCCEEDED,
    }
    shown = fake_mastodon.current("alice")
    assert shown["avatar"] == variant_bytes(app, avatar, "mastodon_avatar")
    assert shown["header"] == variant_bytes(app, banner, "mastodon_header")
    assert task_of(release, "avatar").remote_url.startswith(fake_mastodon.url)


def test_syncing_the_same_images_again_uploads_nothing(app, pat, alice, fake_mastodon, run_jobs):
    ready_images(pat, run_jobs)
    first = releases.start(pat)
    db.session.commit()
    settle(run_jobs, first.id)
    pushes = len(fake_mastodon.pushes)

    second = releases.start(pat)
    db.session.commit()
    second = settle(run_jobs, second.id)

    assert [t.status for t in second.tasks] == [TaskStatus.SKIPPED, TaskStatus.SKIPPED]
    assert second.status == "succeeded"
    assert len(fake_mastodon.pushes) == pushes
    assert fake_mastodon.duplicate_pushes() == 0


def test_a_429_is_retried_at_the_reset_time_the_instance_gave(
    app, pat, alice, fake_mastodon, run_jobs
):
    ready_images(pat, run_jobs)
    fake_mastodon.fail_next(429, reset_in=1.5, times=2)  # the first push of each slot
    release = releases.start(pat)
    db.session.commit()
    started = datetime.now(UTC)
    run_jobs()
    db.session.expire_all()

    for task in release.tasks:
        assert task.status is TaskStatus.RETRYING
        assert task.error == "Mastodon's rate limit was reached."
        wait = (task.next_attempt_at - started).total_seconds()
        assert 1.2 < wait < 3.0  # at the reset, not after our own (30 s) back-off

    release = settle(run_jobs, release.id)
    assert [(t.status, t.attempts) for t in release.tasks] == [(TaskStatus.SUCCEEDED, 2)] * 2
    assert fake_mastodon.current("alice")["avatar"] is not None


def test_a_revoked_token_marks_the_account_for_reconnecting(
    app, pat, alice, fake_mastodon, run_jobs
):
    ready_images(pat, run_jobs)
    fake_mastodon.revoke_all("alice")
    release = releases.start(pat)
    db.session.commit()
    release = settle(run_jobs, release.id)

    assert {t.status for t in release.tasks} == {TaskStatus.NEEDS_RECONNECT}
    account = db.session.get(PlatformAccount, alice.id)
    assert account.status is AccountStatus.EXPIRED
    assert account.last_error == "Mastodon refused our access: The access token was revoked"
    assert release.status == "failed"


def test_an_image_the_instance_refuses_fails_with_its_message(
    app, pat, alice, fake_mastodon, run_jobs
):
    ready_images(pat, run_jobs)
    fake_mastodon.fail_next(422, error="Validation failed: Avatar dimensions are too large")
    release = releases.start(pat)
    db.session.commit()
    release = settle(run_jobs, release.id)

    failed = [t for t in release.tasks if t.status is TaskStatus.FAILED]
    assert len(failed) == 1 and failed[0].attempts == 1
    assert "Avatar dimensions are too large" in failed[0].error
    assert release.status == "partial"


def test_server_errors_are_retried_with_back_off_and_then_given_up(
    app, pat, alice, fake_mastodon, run_jobs
):
    app.config.update(SYNC_MAX_ATTEMPTS=2, SYNC_RETRY_BASE=0)
    try:
        avatar, _ = ready_images(pat, run_jobs)
        fake_mastodon.fail_next(503, times=10)
        release = releases.start(pat, banner_id=None, use_current=True)
        db.session.commit()
        release = settle(run_jobs, release.id)
    finally:
        app.config.update(SYNC_MAX_ATTEMPTS=6, SYNC_RETRY_BASE=30)
    for task in release.tasks:
        assert task.status is TaskStatus.FAILED and task.attempts == 2
        assert "Gave up after 2 tries" in task.error


def test_a_push_that_landed_before_its_worker_died_is_not_repeated(
    app, pat, alice, fake_mastodon, run_jobs
):
    """The worker uploaded, then died before writing "succeeded": the next run sees the slot
    changed since the attempt began and records success without a second upload."""
    ready_images(pat, run_jobs)
    release = releases.start(pat)
    db.session.commit()
    empty_queues(app)
    task = task_of(release, "avatar")
    account = db.session.get(PlatformAccount, alice.id)
    adapter_data = variant_bytes(app, task.request.avatar_image, "mastodon_avatar")
    from app.services.platforms import get

    # What the dead worker had done: recorded the slot as it was, then uploaded.
    mastodon = get("mastodon")
    task.content_sha256 = __import__("hashlib").sha256(adapter_data).hexdigest()
    task.remote_before = mastodon.current_image_url(account, "avatar") or ""
    mastodon.push(account, "avatar", adapter_data, "image/jpeg")
    task.status = TaskStatus.RUNNING
    task.attempts = 1
    task.lease_until = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    uploads = len(fake_mastodon.pushes)

    engine.run(task.id)
    db.session.expire_all()
    task = db.session.get(SyncTask, task.id)
    assert task.status is TaskStatus.SUCCEEDED and task.attempts == 2
    assert len(fake_mastodon.pushes) == uploads
    assert fake_mastodon.duplicate_pushes() == 0


def test_tasks_lost_with_the_queue_are_found_by_the_reconciler(
    app, pat, alice, fake_mastodon, run_jobs
):
    ready_images(pat, run_jobs)
    release = releases.start(pat)
    db.session.commit()
    empty_queues(app)  # Redis flushed (or the web process restarted) before any worker ran
    assert run_jobs() == 0

    found = reconcile(timedelta(seconds=0), now=datetime.now(UTC) + timedelta(seconds=1))
    assert sorted(found["sync"]) == sorted(t.id for t in release.tasks)
    release = settle(run_jobs, release.id)
    assert release.status == "succeeded"
    assert len(fake_mastodon.pushes) == 2


def test_pushes_to_one_account_take_turns(app, pat, alice, fake_mastodon, run_jobs):
    ready_images(pat, run_jobs)
    release = releases.start(pat)
    db.session.commit()
    avatar, banner = task_of(release, "avatar"), task_of(release, "banner")
    account = db.session.get(PlatformAccount, alice.id)
    account.busy_until = datetime.now(UTC) + timedelta(seconds=60)
    account.busy_task_id = avatar.id  # the avatar push is running elsewhere
    db.session.commit()

    assert engine.run(banner.id) is TaskStatus.QUEUED  # waits its turn, queued again
    assert len(fake_mastodon.pushes) == 0
    account.busy_until = None
    db.session.commit()
    release = settle(run_jobs, release.id)
    assert release.status == "succeeded"


def test_restoring_an_earlier_release_pushes_its_images_again(
    app, pat, alice, fake_mastodon, run_jobs
):
    first_avatar, _ = ready_images(pat, run_jobs, seed=1)
    first = releases.start(pat)
    db.session.commit()
    settle(run_jobs, first.id)
    original = fake_mastodon.current("alice")

    from app.services.images import library

    new_avatar, _ = ready_images(pat, run_jobs, seed=5)
    library.set_current(new_avatar)
    db.session.commit()
    second = releases.start(pat)
    db.session.commit()
    settle(run_jobs, second.id)
    assert fake_mastodon.current("alice")["avatar"] != original["avatar"]

    restored = releases.restore(pat, first)
    db.session.commit()
    restored = settle(run_jobs, restored.id)
    assert restored.restored_from_id == first.id
    assert fake_mastodon.current("alice")["avatar"] == original["avatar"]
    assert {t.status for t in restored.tasks} == {TaskStatus.SUCCEEDED, TaskStatus.SKIPPED}


@pytest.mark.services
def test_a_worker_killed_mid_push_loses_nothing_and_pushes_once(
    app, pat, alice, fake_mastodon, run_jobs, worker_env
):
    import signal
    import subprocess
    import sys

    from tests.sync_support import wait_for

    ready_images(pat, run_jobs)
    fake_mastodon.chaos(fault_rate=0.0, latency=(3.0, 3.0), seed=1)  # every request takes 3 s
    env = {**worker_env, "SYNC_LEASE_SECONDS": "2", "STALE_JOB_AFTER": "1"}
    release = releases.start(pat)
    db.session.commit()
    worker = subprocess.Popen([sys.executable, "worker.py"], env=env)
    try:
        assert wait_for(lambda: len(fake_mastodon.requests) >= 2, timeout=30)  # mid-push
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    time.sleep(3.5)  # the lease runs out
    fake_mastodon.calm()
    reconcile(timedelta(seconds=1))
    release = settle(run_jobs, release.id)
    assert [t.status for t in release.tasks] == [TaskStatus.SUCCEEDED] * 2
    stored = [(p["account"], p["field"]) for p in fake_mastodon.pushes if p["status"] == 200]
    assert sorted(stored) == sorted(set(stored))  # each slot received our file once
    assert fake_mastodon.duplicate_pushes() == 0


def test_a_sync_started_right_after_an_upload_waits_for_the_files(
    app, pat, alice, fake_mastodon, run_jobs
):
    from app.services.images import library
    from tests.images import avatar_jpeg

    library.create_upload(pat.id, "avatar", avatar_jpeg())
    release = releases.start(pat)  # the avatar is still being processed
    db.session.commit()
    release = settle(run_jobs, release.id)

    task = task_of(release, "avatar")
    assert (task.status, task.attempts) == (TaskStatus.SUCCEEDED, 1)
    assert fake_mastodon.current("alice")["avatar"] is not None


def test_of_two_copies_of_a_job_only_one_pushes(app, pat, alice, fake_mastodon, run_jobs):
    """A re-queued copy racing the original: both read "queued", one claims the task."""
    from sqlalchemy.orm import Session

    from app.services.sync.engine import _claim, utcnow

    ready_images(pat, run_jobs)
    release = releases.start(pat)
    db.session.commit()
    empty_queues(app)
    task = task_of(release, "avatar")
    assert task.status is TaskStatus.QUEUED  # what the second copy has read

    with Session(db.engine) as first_copy:  # the first copy, in another worker, claims it now
        assert _claim(first_copy.get(SyncTask, task.id), utcnow())
        first_copy.commit()

    assert engine.run(task.id) is TaskStatus.RUNNING  # the second copy stands back
    db.session.expire_all()
    assert db.session.get(SyncTask, task.id).attempts == 1
    assert fake_mastodon.pushes == []


def test_the_platform_pacing_us_does_not_count_as_failed_tries(
    app, pat, alice, fake_mastodon, run_jobs
):
    app.config.update(SYNC_MAX_ATTEMPTS=2)
    try:
        ready_images(pat, run_jobs)
        fake_mastodon.fail_next(429, reset_in=0.3, times=6)  # six 429s across the two slots
        release = releases.start(pat)
        db.session.commit()
        release = settle(run_jobs, release.id)
    finally:
        app.config.update(SYNC_MAX_ATTEMPTS=6)
    # Which slot meets which 429 depends on timing; either way, with 2 tries allowed, every
    # slot got there, and only the one successful try per slot counts as a try.
    assert [t.status for t in release.tasks] == [TaskStatus.SUCCEEDED] * 2
    assert [t.attempts - t.rate_limited for t in release.tasks] == [1, 1]
    assert sum(t.rate_limited for t in release.tasks) == 6
