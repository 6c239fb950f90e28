"""Redis only carries work: rows left waiting by a lost job are queued again, once per period."""

from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from app.extensions import db
from app.models import Image, ImageStatus
from app.services.images import library
from app.tasks.images import process_image
from app.tasks.maintenance import reconcile
from tests.conftest import empty_queues, queued_jobs
from tests.images import add_user, avatar_jpeg


def later() -> datetime:
    """An hour from now, read when used: a constant taken at import ages while the suite runs."""
    return datetime.now(UTC) + timedelta(hours=1)


def _queued(app) -> int:
    return queued_jobs(app, process_image.queue_name)


def _upload_and_lose_the_job(app) -> int:
    image, _ = library.create_upload(add_user().id, "avatar", avatar_jpeg())
    db.session.commit()
    empty_queues(app)  # as if Redis had been flushed
    return image.id


def test_a_lost_job_is_queued_again_and_the_image_gets_processed(app, run_jobs):
    image_id = _upload_and_lose_the_job(app)
    assert run_jobs() == 0

    assert reconcile(timedelta(minutes=15), now=later()) == {
        "images": [image_id],
        "mail": [],
        "sync": [],
        "exports": [],
    }
    assert run_jobs() == 1
    assert db.session.get(Image, image_id).status is ImageStatus.READY


def test_recent_work_is_left_alone(app):
    _upload_and_lose_the_job(app)
    assert reconcile(timedelta(minutes=15)) == {"images": [], "mail": [], "sync": [], "exports": []}
    assert _queued(app) == 0


def test_work_is_requeued_at_most_once_per_period(app):
    image_id = _upload_and_lose_the_job(app)
    assert reconcile(timedelta(seconds=0), now=later())["images"] == [image_id]
    # updated_at was touched by the database clock: still inside the next period
    assert reconcile(timedelta(minutes=15))["images"] == []
    assert _queued(app) == 1


def test_finished_and_failed_images_are_not_requeued(app, run_jobs):
    image_id = _upload_and_lose_the_job(app)
    reconcile(timedelta(0), now=later())
    run_jobs()
    assert reconcile(timedelta(0), now=later())["images"] == []
    assert db.session.get(Image, image_id).status is ImageStatus.READY


def test_a_backlog_is_not_queued_twice(app):
    # Before: every round pushed another copy of work whose job was still waiting in the queue.
    image_id = _upload_and_lose_the_job(app)
    assert reconcile(timedelta(0), now=later())["images"] == [image_id]
    assert reconcile(timedelta(0), now=later() + timedelta(hours=1))["images"] == [image_id]
    assert _queued(app) == 1


def test_cli_reconcile_and_reprocess(app, run_jobs):
    image_id = _upload_and_lose_the_job(app)
    runner = CliRunner()
    result = runner.invoke(app.cli, ["worker", "reconcile", "--stale-after", "0"])
    assert result.exit_code == 0 and f"images: re-queued 1 ({image_id})" in result.output
    run_jobs()

    db.session.get(Image, image_id).status = ImageStatus.FAILED
    db.session.commit()
    result = runner.invoke(app.cli, ["images", "reprocess", "--failed"])
    assert result.exit_code == 0 and "queued 1 image(s)" in result.output
    assert run_jobs() == 1
    assert db.session.get(Image, image_id).status is ImageStatus.READY

    missing = runner.invoke(app.cli, ["images", "reprocess", "999"])
    assert missing.exit_code != 0 and "no image with id 999" in missing.output
    assert runner.invoke(app.cli, ["images", "reprocess"]).exit_code != 0


def test_a_lost_export_job_is_queued_again_and_a_dead_build_restarts(app, run_jobs):
    from app.models import DataExport, ExportStatus
    from app.services.accounts import export

    user = add_user()
    row = export.request_export(user)
    db.session.commit()
    export_id = row.id
    empty_queues(app)  # Redis lost the build job

    assert reconcile(timedelta(minutes=15))["exports"] == []  # too recent to be lost
    assert reconcile(timedelta(minutes=15), now=later())["exports"] == [export_id]
    run_jobs()
    assert db.session.get(DataExport, export_id).status is ExportStatus.READY

    # A worker died mid-build: the row stays "building" until a job could no longer be running.
    row = db.session.get(DataExport, export_id)
    row.status, row.started_at = ExportStatus.BUILDING, datetime.now(UTC)
    db.session.commit()
    soon = row.started_at + timedelta(minutes=16)
    assert reconcile(timedelta(minutes=15), now=soon)["exports"] == []  # may still be running
    dead = soon + timedelta(seconds=app.config["JOB_TIMEOUT"])
    assert reconcile(timedelta(minutes=15), now=dead)["exports"] == [export_id]
    run_jobs()
    row = db.session.get(DataExport, export_id)
    assert row.status is ExportStatus.READY and row.attempts == 2
