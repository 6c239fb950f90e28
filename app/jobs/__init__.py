"""Background jobs: queue names, the @job decorator, enqueue_on_commit and the two backends.

RQ on Redis in production and tests; an in-process thread in the embedded default, so the whole
product works with no server installed. Jobs take row ids and re-read their rows.

This package sits below the services: a service queues a job by its name (`"process_image"`),
and `app/tasks/` registers the functions under those names, so services never import tasks and
nothing here imports them either.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from flask import Flask, current_app

from app.jobs.inprocess import InProcessBackend
from app.jobs.redis_backend import RQBackend
from app.jobs.registry import DEFAULT, IMAGES, QUEUES, SYNC, job, resolve
from app.jobs.transaction import after_commit

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT",
    "IMAGES",
    "QUEUES",
    "SYNC",
    "InProcessBackend",
    "JobBackend",
    "RQBackend",
    "after_commit",
    "enqueue",
    "enqueue_on_commit",
    "init_jobs",
    "job",
    "jobs",
    "resolve",
]


class JobBackend(Protocol):
    def enqueue(
        self, func: Callable, args: tuple, *, delay: timedelta | None = None
    ) -> str | None: ...

    def job_id(self, func: Callable, args: tuple) -> str: ...

    def ping(self) -> None: ...

    def queue_depths(self) -> dict[str, int]: ...


def init_jobs(app: Flask) -> None:
    if app.config["REDIS_URL"]:
        backend: JobBackend = RQBackend(
            app.config["REDIS_URL"],
            prefix=app.config["QUEUE_PREFIX"],
            timeout=app.config["JOB_TIMEOUT"],
        )
    else:
        backend = InProcessBackend(app)
        app.before_request(_start_embedded_periodic)
    app.extensions["jobs"] = backend


def _start_embedded_periodic() -> None:
    # The embedded default has no worker process: the web process's own worker thread runs the
    # periodic jobs, starting with the first request (not in `flask db upgrade` and the like).
    from app.jobs.periodic import schedule

    backend = current_app.extensions["jobs"]
    if backend.threaded and not backend.periodic_started:  # unthreaded: only drain() runs jobs
        backend.start_periodic(schedule(current_app))


def jobs() -> JobBackend:
    return current_app.extensions["jobs"]


def enqueue(task: str | Callable, *args: Any, delay: timedelta | None = None) -> str | None:
    """Queue a job now, outside any transaction (CLI, reconciler, retries); the job id, or None
    when the same work is already waiting."""
    return jobs().enqueue(resolve(task), args, delay=delay)


def enqueue_on_commit(task: str | Callable, *args: Any, delay: timedelta | None = None) -> None:
    """Queue `task(*args)` once the outermost transaction commits; dropped on rollback, or
    with the savepoint it was registered in.

    So a worker never picks up a job for a row it cannot see yet.
    """
    after_commit(_enqueue_committed, resolve(task), args, delay)


def _enqueue_committed(func: Callable, args: tuple, delay: timedelta | None) -> None:
    try:
        jobs().enqueue(func, args, delay=delay)
    except Exception:
        # The rows are committed; the reconciler re-enqueues work that never started.
        log.exception("could not enqueue %s%r", func.__name__, args)
