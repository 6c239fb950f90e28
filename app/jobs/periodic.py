"""Periodic jobs: RQ's cron scheduler beside the worker, or the in-process worker's own timer.

Adding a periodic job is one line in SCHEDULE: its registered job name and the setting that
holds its interval in seconds.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable

from flask import Flask
from rq.cron import CronScheduler
from rq.utils import now

from app.jobs.registry import resolve

log = logging.getLogger(__name__)

SCHEDULE: dict[str, str] = {
    "reconcile_lost_work": "RECONCILE_INTERVAL",
    "sweep_orphaned_files": "SWEEP_INTERVAL",
    "purge_stale_sessions": "SWEEP_INTERVAL",
    "refresh_platform_tokens": "TOKEN_REFRESH_INTERVAL",
    "flush_analytics": "ANALYTICS_FLUSH_INTERVAL",
    "rollup_analytics": "ANALYTICS_ROLLUP_INTERVAL",
    "watch_drift": "DRIFT_WATCH_INTERVAL",
    "run_due_schedules": "SCHEDULE_SWEEP_INTERVAL",
    "record_reach": "REACH_INTERVAL",
    "send_due_webhooks": "WEBHOOK_SWEEP_INTERVAL",
    "warn_expiring_connections": "EXPIRY_WARNING_INTERVAL",
    "expire_exports": "EXPORT_SWEEP_INTERVAL",
}


def schedule(app: Flask) -> dict[Callable, int]:
    """Each periodic job function and its interval in seconds."""
    return {resolve(name): int(app.config[setting]) for name, setting in SCHEDULE.items()}


def trigger(app: Flask, func: Callable, every: int) -> str | None:
    """Queue one round of a periodic job on Redis, unless another worker already did this period.

    Every worker runs a scheduler, so the lock keeps it to one round per period; the
    deterministic job id keeps it to one queued copy however long the queue is.
    """
    backend = app.extensions["jobs"]
    lock = f"{backend.prefix}periodic-lock:{func.__name__}"
    if not backend.redis.set(lock, os.getpid(), nx=True, ex=max(every - 1, 1)):
        return None
    return backend.enqueue(func, ())


class PeriodicScheduler(CronScheduler):
    """RQ's CronScheduler (visible to RQ's monitoring), enqueueing through our backend."""

    def __init__(self, app: Flask):
        backend = app.extensions["jobs"]
        super().__init__(connection=backend.redis, name=f"{backend.prefix}periodic-{os.getpid()}")
        self.app = app
        self.stopping = threading.Event()
        for func, every in schedule(app).items():
            queue = backend.prefix + func.queue_name
            self.register(func, queue, interval=every, name=f"{backend.prefix}{func.__name__}")

    def enqueue_jobs(self) -> list:
        due = [job for job in self._cron_jobs if job.should_run()]
        with self.app.app_context():
            for cron_job in due:
                try:
                    trigger(self.app, cron_job.func, cron_job.interval)
                except Exception:  # Redis away: the next period tries again
                    log.exception("could not queue periodic job %s", cron_job.func_name)
                cron_job.set_enqueue_time(now())
        return due

    def run(self) -> None:
        """Loop until SIGTERM/SIGINT, or until the worker that started us is gone."""
        parent = os.getppid()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        self.register_birth()
        try:
            while not self.stopping.is_set() and os.getppid() == parent:
                try:
                    if self.enqueue_jobs():
                        self.save()
                    self.heartbeat()
                except Exception:
                    log.exception("periodic scheduler round failed")
                # Wake at least every second to notice the worker going away.
                self.stopping.wait(min(max(self.calculate_sleep_interval(), 0.1), 1.0))
        finally:
            try:
                self.register_death()
            except Exception:
                log.warning("could not unregister the periodic scheduler", exc_info=True)
