"""Scheduled looks run with a moved clock: the look goes out at its time and the earlier one
comes back at the revert; a cancelled schedule never runs; one missed while everything was down
runs once (however many sweep rounds and job copies), and one whose revert passed too is marked
missed. Then the same through a real `python worker.py`: the sweep catching up at start, and
delayed jobs fired by RQ's scheduler.

Both profiles run the in-process tests: the services profile with a real RQ worker (in this
process, so the moved clock applies), the embedded one with the in-process backend.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.infra import row_security
from app.jobs import enqueue
from app.models import Image, ImageKind, ScheduledRelease, ScheduleStatus, SyncRequest
from app.services.images import library
from app.services.sync import schedule_runs, schedules
from tests.clock import Clock
from tests.conftest import empty_queues, scheduled_jobs
from tests.sync_support import connect_mastodon, ready_images, settle, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clock(monkeypatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr(schedules, "utcnow", lambda: moved.now)
    return moved


@pytest.fixture
def pat(make_user):
    return make_user(email="pat@example.com")


@pytest.fixture
def looks(pat, fake_mastodon, run_jobs):
    """Pat's everyday look (current), a holiday look in the library, and a connected account."""
    connect_mastodon(pat, fake_mastodon)
    everyday = ready_images(pat, run_jobs)
    holiday = ready_images(pat, run_jobs, seed=4)
    return everyday, holiday


def schedule(pat, holiday, at: datetime, revert_at: datetime | None = None, now=None) -> int:
    created = schedules.create(
        pat,
        avatar_id=holiday[0].id,
        banner_id=holiday[1].id,
        profile=False,
        at=at,
        revert_at=revert_at,
        now=now,
    )
    db.session.commit()
    return created.id


def sweep(run_jobs, rounds: int = 1) -> None:
    for _ in range(rounds):
        enqueue("run_due_schedules")
        run_jobs()


def releases() -> list[SyncRequest]:
    db.session.expire_all()
    return list(db.session.scalars(select(SyncRequest).order_by(SyncRequest.id)))


def current(user_id: int) -> tuple[int, int]:
    """The person's current avatar and banner ids."""
    db.session.expire_all()
    ids = {
        image.kind: image.id
        for image in db.session.scalars(
            select(Image).where(Image.user_id == user_id, Image.is_current.is_(True))
        )
    }
    return ids[ImageKind.AVATAR], ids[ImageKind.BANNER]


def status(schedule_id: int) -> ScheduledRelease:
    db.session.expire_all()
    return db.session.get(ScheduledRelease, schedule_id)


def ids(pair) -> tuple[int, int]:
    return pair[0].id, pair[1].id


def test_the_look_goes_out_at_its_time_and_the_earlier_one_comes_back(
    app, pat, looks, clock, run_jobs, fake_mastodon
):
    everyday, holiday = looks
    sid = schedule(pat, holiday, clock.now + timedelta(hours=1), clock.now + timedelta(days=3))

    sweep(run_jobs, rounds=2)  # not yet
    assert status(sid).status is ScheduleStatus.PENDING and releases() == []

    clock.move(hours=1, seconds=1)
    sweep(run_jobs)
    item = status(sid)
    assert item.status is ScheduleStatus.APPLIED
    assert current(pat.id) == ids(holiday)
    [out] = releases()
    assert (out.avatar_image_id, out.banner_image_id) == ids(holiday)
    assert item.run_release_id == out.id
    assert (item.previous_avatar_id, item.previous_banner_id) == ids(everyday)
    assert settle(run_jobs, out.id).status == "succeeded"

    sweep(run_jobs, rounds=2)  # the revert is not due yet
    assert len(releases()) == 1

    clock.move(days=3)
    sweep(run_jobs, rounds=3)
    item = status(sid)
    assert item.status is ScheduleStatus.REVERTED and item.error is None
    assert current(pat.id) == ids(everyday)
    out, back = releases()
    assert (back.avatar_image_id, back.banner_image_id) == ids(everyday)
    assert item.revert_release_id == back.id
    assert settle(run_jobs, back.id).status == "succeeded"


def test_a_cancelled_schedule_never_runs(app, pat, looks, clock, run_jobs):
    everyday, holiday = looks
    sid = schedule(pat, holiday, clock.now + timedelta(hours=1))
    schedules.cancel(status(sid))
    db.session.commit()
    clock.move(hours=2)
    enqueue("run_schedule", sid)
    sweep(run_jobs, rounds=2)
    assert status(sid).status is ScheduleStatus.CANCELLED
    assert releases() == [] and current(pat.id) == ids(everyday)


def test_cancelling_an_applied_schedule_keeps_the_look(app, pat, looks, clock, run_jobs):
    everyday, holiday = looks
    sid = schedule(pat, holiday, clock.now + timedelta(hours=1), clock.now + timedelta(days=1))
    clock.move(hours=2)
    sweep(run_jobs)
    assert status(sid).status is ScheduleStatus.APPLIED
    schedules.cancel(status(sid))
    db.session.commit()
    clock.move(days=2)
    enqueue("run_schedule", sid)
    sweep(run_jobs)
    assert status(sid).status is ScheduleStatus.CANCELLED
    assert len(releases()) == 1 and current(pat.id) == ids(holiday)


def test_a_schedule_missed_while_down_runs_once_when_back(app, pat, looks, clock, run_jobs):
    everyday, holiday = looks
    sid = schedule(pat, holiday, clock.now + timedelta(hours=1))
    empty_queues(app)  # everything went down: its delayed job is gone with the queue
    clock.move(days=2)  # ...for two days, many sweep periods
    for _ in range(3):  # back: several sweep rounds and stray copies of its own job at once
        enqueue("run_due_schedules")
        enqueue("run_schedule", sid)
        run_jobs()
    assert status(sid).status is ScheduleStatus.DONE
    [out] = releases()
    assert (out.avatar_image_id, out.banner_image_id) == ids(holiday)
    assert current(pat.id) == ids(holiday)


def test_copies_running_at_the_same_moment_run_it_once(app, pat, looks, clock):
    everyday, holiday = looks
    sid, pat_id = schedule(pat, holiday, clock.now + timedelta(hours=1)), pat.id
    holiday_ids = ids(holiday)
    clock.move(hours=2)
    db.session.remove()  # the test's own session holds nothing while the copies race
    start = threading.Barrier(4)
    outcomes, errors = [], []

    def copy() -> None:  # the delayed job, the sweep, a second worker...: each its own session
        with app.app_context(), row_security.bypass("tests"):  # a job's scope, in a new thread
            try:
                start.wait(10)
                outcomes.append(schedule_runs.run(sid, clock.now))
            except Exception as exc:  # noqa: BLE001  (reported below)
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=copy) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sorted(map(str, outcomes)) == ["None", "None", "None", "done"]
    assert len(releases()) == 1 and current(pat_id) == holiday_ids


def test_a_look_whose_revert_also_passed_while_down_is_marked_missed(
    app, pat, looks, clock, run_jobs
):
    everyday, holiday = looks
    sid = schedule(pat, holiday, clock.now + timedelta(hours=1), clock.now + timedelta(hours=5))
    empty_queues(app)
    clock.move(days=1)
    sweep(run_jobs, rounds=2)
    item = status(sid)
    assert item.status is ScheduleStatus.MISSED and "not running" in item.error
    assert releases() == [] and current(pat.id) == ids(everyday)


def test_the_revert_leaves_a_look_changed_by_hand(app, pat, looks, clock, run_jobs):
    everyday, holiday = looks
    sid = schedule(pat, holiday, clock.now + timedelta(hours=1), clock.now + timedelta(days=1))
    clock.move(hours=2)
    sweep(run_jobs)
    library.set_current(db.session.get(Image, everyday[0].id))  # the avatar, by hand
    db.session.commit()
    clock.move(days=1)
    sweep(run_jobs)
    item = status(sid)
    assert item.status is ScheduleStatus.REVERTED
    assert current(pat.id) == (everyday[0].id, everyday[1].id)  # the banner came back
    back = releases()[-1]
    assert (back.avatar_image_id, back.banner_image_id) == (None, everyday[1].id)


def test_the_delayed_job_fires_at_the_time(app, pat, looks, run_jobs):
    everyday, holiday = looks
    at = datetime.now(UTC) + timedelta(seconds=2)
    sid = schedule(pat, holiday, at)
    assert scheduled_jobs(app, "default") == 1
    run_jobs(scheduled=True)  # not due yet
    assert status(sid).status is ScheduleStatus.PENDING

    def fired() -> bool:
        run_jobs(scheduled=True)
        return status(sid).status is ScheduleStatus.DONE

    assert wait_for(fired, timeout=30)
    assert current(pat.id) == ids(holiday) and len(releases()) == 1


@pytest.mark.services  # a real `python worker.py` with RQ's scheduler and cron scheduler
def test_a_real_worker_catches_up_at_start_and_fires_delayed_jobs(
    app, pat, looks, worker_env, tmp_path
):
    everyday, holiday = looks
    now = datetime.now(UTC)
    missed = schedule(pat, holiday, now + timedelta(hours=1))
    empty_queues(app)
    # Time passes while no worker runs: the schedule's time is now two hours ago.
    db.session.execute(
        update(ScheduledRelease)
        .where(ScheduledRelease.id == missed)
        .values(at=now - timedelta(hours=2))
    )
    db.session.commit()

    env = {**worker_env, "SCHEDULE_SWEEP_INTERVAL": "3600"}  # one sweep: the one at start
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_for(lambda: status(missed).status is ScheduleStatus.DONE, 60), log.read_text()
        assert len(releases()) == 1

        # The next sweep is an hour away: only RQ's scheduler can run this one, and its revert.
        start = datetime.now(UTC)
        timed = schedule(pat, everyday, start + timedelta(seconds=2), start + timedelta(seconds=5))
        assert wait_for(lambda: status(timed).status is ScheduleStatus.REVERTED, 60), (
            log.read_text()[-3000:]
        )
    finally:
        worker.terminate()
        worker.wait(30)
    item = status(timed)
    assert item.ran_at >= start + timedelta(seconds=2)
    assert item.reverted_at >= start + timedelta(seconds=5)
    assert item.run_release_id and item.revert_release_id
    assert db.session.scalar(select(func.count(SyncRequest.id))) == 3
    assert current(pat.id) == ids(holiday)  # the holiday look, put back after the everyday one


def test_the_embedded_worker_thread_catches_up_and_fires_delayed_jobs(
    app_config, fake_mastodon, tmp_path
):
    from app import create_app
    from app.jobs import InProcessBackend
    from tests.conftest import make_test_config
    from tests.images import avatar_jpeg, banner_jpeg

    embedded = create_app(
        make_test_config(
            **{
                **app_config,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'embedded.db'}",
                "REDIS_URL": None,
                "S3_BUCKET": None,
                "LOCAL_STORAGE_ROOT": str(tmp_path / "storage"),
                "SCHEDULE_SWEEP_INTERVAL": 3600,  # one sweep: the one at start
            }
        )
    )
    assert isinstance(embedded.extensions["jobs"], InProcessBackend)
    with embedded.app_context():
        db.create_all()
        from app.services.accounts.users import create_user

        pat = create_user("pat@example.com", "correct horse battery", verified=True)
        db.session.commit()
        connect_mastodon(pat, fake_mastodon)
        holiday, party = [], []
        for look, seed in ((holiday, 4), (party, 6)):
            look.append(library.create_upload(pat.id, "avatar", avatar_jpeg(seed=seed))[0])
            look.append(library.create_upload(pat.id, "banner", banner_jpeg(seed=seed + 1))[0])
        db.session.commit()
        # Scheduled before the process stopped, for a time that passed while it was down.
        missed = ScheduledRelease(
            user_id=pat.id,
            avatar_image_id=holiday[0].id,
            banner_image_id=holiday[1].id,
            at=datetime.now(UTC) - timedelta(hours=3),
        )
        db.session.add(missed)
        db.session.commit()
        missed_id = missed.id

        # The first request starts the periodic jobs on the web process's worker thread.
        assert embedded.test_client().get("/healthz").status_code == 200
        assert wait_for(lambda: status(missed_id).status is ScheduleStatus.DONE, 30)

        start = datetime.now(UTC)
        timed = schedule(pat, party, start + timedelta(seconds=2), start + timedelta(seconds=4))
        assert wait_for(lambda: status(timed).status is ScheduleStatus.REVERTED, 30)
        item = status(timed)
        assert item.ran_at >= start + timedelta(seconds=2)
        assert item.reverted_at >= start + timedelta(seconds=4)
        # The missed look ran once; the timed one went out and came back: three releases.
        assert db.session.scalar(select(func.count(SyncRequest.id))) == 3
        assert current(pat.id) == ids(holiday)
        db.session.remove()


def test_a_look_with_the_profile_text_puts_the_earlier_text_back(
    app, pat, looks, clock, run_jobs, fake_mastodon
):
    from app.services import profiles
    from app.services.sync import releases as starting

    everyday, holiday = looks
    profiles.update(pat, {"bio": "Owls, mostly."})
    db.session.commit()
    first = starting.start(pat, profile=True, use_current=False)
    db.session.commit()
    assert settle(run_jobs, first.id).status == "succeeded"
    profiles.update(pat, {"bio": "On holiday until the 2nd."})
    created = schedules.create(
        pat,
        avatar_id=None,
        banner_id=None,
        profile=True,
        at=clock.now + timedelta(hours=1),
        revert_at=clock.now + timedelta(days=3),
    )
    db.session.commit()

    clock.move(hours=1, seconds=1)
    sweep(run_jobs)
    item = status(created.id)
    assert item.status is ScheduleStatus.APPLIED
    assert settle(run_jobs, item.run_release_id).status == "succeeded"
    assert fake_mastodon.accounts["alice"].note == "On holiday until the 2nd."
    assert current(pat.id) == ids(everyday)  # a text-only look leaves the pictures alone

    clock.move(days=3)
    sweep(run_jobs)
    item = status(created.id)
    assert item.status is ScheduleStatus.REVERTED and item.error is None
    assert settle(run_jobs, item.revert_release_id).status == "succeeded"
    assert fake_mastodon.accounts["alice"].note == "Owls, mostly."
