"""Operational jobs: the worker ping, and the reconciler that re-queues work Redis lost."""

import logging
import os
import socket
import threading
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import text

from app.extensions import db
from app.jobs import DEFAULT, RQBackend, job

log = logging.getLogger(__name__)


@job(DEFAULT)
def worker_ping() -> dict:
    """Prove a worker can run jobs end to end: it answers with where it ran and what it reached."""
    db.session.execute(text("SELECT 1"))
    return {"hostname": socket.gethostname(), "pid": os.getpid(), "database": "ok"}


def reconcile(stale_after: timedelta, now: datetime | None = None) -> dict[str, list[int]]:
    """Re-queue rows that wait for a job but have not moved for `stale_after`; commits."""
    from app.services.images import library

    cutoff = (now or datetime.now(UTC)) - stale_after
    requeued = {"images": library.requeue_stale(cutoff)}
    db.session.commit()
    if any(requeued.values()):
        log.warning("reconciler re-queued stale work", extra={"event": "reconcile", **requeued})
    return requeued


class Reconciler(threading.Thread):
    """Runs `reconcile` every `interval` seconds, at once on start (a restart lost the queue).

    With several workers on one Redis, a short lock lets only one of them run each round.
    """

    def __init__(self, app: Flask):
        super().__init__(name="reconciler", daemon=True)
        self.app = app
        self.interval = app.config["RECONCILE_INTERVAL"]
        self.stale_after = timedelta(seconds=app.config["STALE_JOB_AFTER"])
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                if self._take_turn():
                    with self.app.app_context():
                        reconcile(self.stale_after)
            except Exception:  # the next round tries again; never kill the worker for this
                log.exception("reconciler round failed")
            self.stopping.wait(self.interval)

    def _take_turn(self) -> bool:
        backend = self.app.extensions["jobs"]
        if not isinstance(backend, RQBackend):
            return True
        key = f"{backend.prefix}reconciler-lock"
        return bool(backend.redis.set(key, os.getpid(), nx=True, ex=max(self.interval - 1, 1)))
