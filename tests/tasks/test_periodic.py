"""The reconciler runs periodically from RQ's cron scheduler beside each worker, and from the
in-process worker in the embedded default; a period's round is queued once."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from rq.cron import CronScheduler

from app.extensions import db
from app.jobs.periodic import SCHEDULE, schedule, trigger
from app.models import OutboxMessage, OutboxStatus
from app.tasks.analytics import flush_analytics, record_reach, rollup_analytics
from app.tasks.exports import expire_exports
from app.tasks.images import sweep_orphaned_files
from app.tasks.maintenance import purge_stale_sessions, reconcile_lost_work
from app.tasks.schedules import run_due_schedules
from app.tasks.sync import refresh_platform_tokens, warn_expiring_connections, watch_drift
from app.tasks.webhooks import send_due_webhooks
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]


def _lost_reset_mail(app, email: str) -> int:
    """A reset mail whose job never reached a queue (Redis lost it)."""
    user = UserFactory(email=email)
    message = OutboxMessage(
        kind="reset",
        user=user,
        recipient=email,
        payload={"site_url": "https://linkarooie.example"},
        next_attempt_at=db.func.now(),
    )
    db.session.add(message)
    db.session.commit()
    return message.id


def _wait_for(predicate, timeout: float, message):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, message() if callable(message) else message
        time.sleep(0.1)
    return result


def test_schedule_names_each_periodic_job_and_its_interval_setting(app):
    assert SCHEDULE["reconcile_lost_work"] == "RECONCILE_INTERVAL"
    assert SCHEDULE["sweep_orphaned_files"] == "SWEEP_INTERVAL"
    assert SCHEDULE["refresh_platform_tokens"] == "TOKEN_REFRESH_INTERVAL"
    assert SCHEDULE["watch_drift"] == "DRIFT_WATCH_INTERVAL"
    assert SCHEDULE["run_due_schedules"] == "SCHEDULE_SWEEP_INTERVAL"
    assert SCHEDULE["send_due_webhooks"] == "WEBHOOK_SWEEP_INTERVAL"
    assert SCHEDULE["expire_exports"] == "EXPORT_SWEEP_INTERVAL"
    assert schedule(app) == {
        reconcile_lost_work: app.config["RECONCILE_INTERVAL"],
        sweep_orphaned_files: app.config["SWEEP_INTERVAL"],
        purge_stale_sessions: app.config["SWEEP_INTERVAL"],
        refresh_platform_tokens: 300,
        flush_analytics: 10,
        rollup_analytics: 3600,
        watch_drift: 300,
        run_due_schedules: 60,
        record_reach: 3600,
        send_due_webhooks: 60,
        warn_expiring_connections: app.config["EXPIRY_WARNING_INTERVAL"],
        expire_exports: 3600,
    }


@pytest.mark.services  # the round's lock is in Redis
def test_one_round_per_period_however_many_workers_schedule_it(app):
    backend = app.extensions["jobs"]
    first = trigger(app, reconcile_lost_work, 300)
    assert first is not None
    assert trigger(app, reconcile_lost_work, 300) is None  # another worker, same period
    assert backend.queue(reconcile_lost_work.queue_name).job_ids == [first]


def test_worker_runs_the_reconciler_from_rqs_cron_scheduler(app, worker_env, smtp_server, tmp_path):
    sink, port = smtp_server
    sink.clear()
    _lost_reset_mail(app, "lost@example.com")
    env = {
        **worker_env,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(port),
        "MAIL_USE_TLS": "0",
        "RECONCILE_INTERVAL": "300",
    }
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        backend = app.extensions["jobs"]
        _wait_for(
            lambda: any(
                s.name.startswith(backend.prefix) for s in CronScheduler.all(backend.redis)
            ),
            30,
            lambda: f"no cron scheduler registered; log:\n{log.read_text()[-3000:]}",
        )
        mail = sink.wait("lost@example.com", timeout=60)[-1]
        assert "https://linkarooie.example/reset-password/" in sink.text(mail)
    finally:
        worker.terminate()
        worker.wait(30)
    output = log.read_text()
    assert worker.returncode == 0, output[-3000:]
    assert '"func": "reconcile_lost_work"' in output
    db.session.expire_all()
    assert db.session.scalar(db.select(OutboxMessage.status)) is OutboxStatus.SENT
    # Stopping the worker stops its scheduler: it unregistered itself.
    assert not any(
        s.name.startswith(app.extensions["jobs"].prefix)
        for s in CronScheduler.all(app.extensions["jobs"].redis)
    )


def test_embedded_in_process_worker_runs_the_reconciler(app_config, smtp_server, tmp_path):
    from app import create_app
    from app.jobs import InProcessBackend
    from tests.conftest import make_test_config

    sink, port = smtp_server
    sink.clear()
    embedded = create_app(
        make_test_config(
            **{
                **app_config,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'embedded.db'}",
                "REDIS_URL": None,
                "S3_BUCKET": None,
                "LOCAL_STORAGE_ROOT": str(tmp_path / "storage"),
                "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": port,
                "MAIL_USE_TLS": False,
                "RECONCILE_INTERVAL": 24 * 3600,  # one round in this test, not later ones
            }
        )
    )
    assert isinstance(embedded.extensions["jobs"], InProcessBackend)
    with embedded.app_context():
        db.create_all()
        _lost_reset_mail(embedded, "embedded@example.com")  # lost with the previous process
        db.session.remove()
    assert sink.to("embedded@example.com") == []
    # The first request starts the periodic jobs on the web process's worker thread.
    assert embedded.test_client().get("/healthz").status_code == 200
    mail = sink.wait("embedded@example.com", timeout=30)[-1]
    assert "https://linkarooie.example/reset-password/" in sink.text(mail)


def test_the_export_sweep_deletes_expired_zips_and_leaves_current_ones(app, run_jobs):
    from datetime import UTC, datetime, timedelta

    from app.models import DataExport, ExportStatus

    user_id = UserFactory().id
    storage = app.extensions["storage"]
    now = datetime.now(UTC)
    rows = {}
    for name, expires in (("old", now - timedelta(minutes=1)), ("new", now + timedelta(days=1))):
        key = f"exports/{user_id}/{name}.zip"
        storage.put(key, b"PK zip", "application/zip")
        rows[name] = DataExport(
            user_id=user_id, status=ExportStatus.READY, storage_key=key, bytes=6, expires_at=expires
        )
        db.session.add(rows[name])
    db.session.commit()
    ids = {name: row.id for name, row in rows.items()}

    assert schedule(app)[expire_exports] == app.config["EXPORT_SWEEP_INTERVAL"]
    assert expire_exports() == 1
    old, new = db.session.get(DataExport, ids["old"]), db.session.get(DataExport, ids["new"])
    assert old.status is ExportStatus.EXPIRED and old.storage_key is None
    assert not storage.exists(f"exports/{user_id}/old.zip")
    assert new.status is ExportStatus.READY and storage.exists(new.storage_key)
