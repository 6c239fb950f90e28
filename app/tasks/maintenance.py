"""Operational jobs: the worker ping, and the reconciler that re-queues work Redis lost.

`reconcile_lost_work` runs periodically (app/jobs/periodic.py SCHEDULE): from RQ's cron
scheduler beside each worker, or from the in-process worker in the embedded default.
"""

import logging
import os
import socket
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import text

from app.extensions import db
from app.jobs import DEFAULT, job

log = logging.getLogger(__name__)


@job(DEFAULT)
def worker_ping() -> dict:
    """Prove a worker can run jobs end to end: it answers with where it ran and what it reached."""
    db.session.execute(text("SELECT 1"))
    return {"hostname": socket.gethostname(), "pid": os.getpid(), "database": "ok"}


def reconcile(stale_after: timedelta, now: datetime | None = None) -> dict[str, list[int]]:
    """Re-queue rows that wait for a job but have not moved for `stale_after`, and mail that is
    due; commits. Work whose job is still queued is not queued twice (deterministic job ids)."""
    from app.services.accounts import export
    from app.services.images import library
    from app.services.notifications import outbox
    from app.services.sync import engine

    now = now or datetime.now(UTC)
    requeued = {
        "images": library.requeue_stale(now - stale_after),
        "mail": outbox.requeue_due(now),
        "sync": engine.requeue_stale(now, stale_after),
        "exports": export.requeue_stale(now, stale_after),
    }
    db.session.commit()
    if any(requeued.values()):
        log.info("reconciler queued waiting work", extra={"event": "reconcile", **requeued})
    return requeued


@job(DEFAULT)
def reconcile_lost_work() -> dict[str, list[int]]:
    return reconcile(timedelta(seconds=current_app.config["STALE_JOB_AFTER"]))


@job(DEFAULT)
def purge_stale_sessions() -> int:
    """Periodic: session records that can no longer sign anyone in are deleted."""
    from app.services.accounts import sessions

    purged = sessions.purge_stale(idle_limit=current_app.config["REMEMBER_COOKIE_DURATION"])
    db.session.commit()
    return purged
