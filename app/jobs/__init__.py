"""Background jobs: queue names, the @job decorator, enqueue_on_commit and the two backends.

RQ on Redis in production and tests; an in-process thread in the embedded default, so the whole
product works with no server installed. Jobs take row ids and re-read their rows.

This package sits below the services: a service queues a job by its name (`"process_image"`),
and `app/tasks/` registers the functions under those names, so services never import tasks.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from flask import Flask, current_app
from sqlalchemy import event

from app.extensions import db
from app.logconfig import job_id_var

log = logging.getLogger(__name__)

IMAGES = "images"
SYNC = "sync"
DEFAULT = "default"


_REGISTRY: dict[str, Callable] = {}


def job(queue: str = DEFAULT) -> Callable[[Callable], Callable]:
    """Mark a function as a job on `queue`, registered under its name; every run logs one line
    and leaves a clean session."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def run(*args: Any) -> Any:
            from rq import get_current_job

            current = get_current_job()
            token = job_id_var.set(current.id if current else f"inproc-{next(_inproc_ids)}")
            started = time.perf_counter()
            outcome = "failed"
            try:
                result = func(*args)
                outcome = "succeeded"
                return result
            except Exception:
                db.session.rollback()
                raise
            finally:
                db.session.remove()
                log.info(
                    "job %s",
                    outcome,
                    extra={
                        "event": "job",
                        "func": func.__name__,
                        "job_args": [_loggable(arg) for arg in args],
                        "queue": queue,
                        "status": outcome,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
                job_id_var.reset(token)

        run.queue_name = queue  # type: ignore[attr-defined]
        if _REGISTRY.setdefault(func.__name__, run) is not run:
            raise RuntimeError(f"two jobs are named {func.__name__!r}")
        return run

    return decorate


_inproc_ids = itertools.count(1)


def _loggable(arg: Any) -> Any:
    # Ids are what jobs should take; anything else (a mail body with a sign-in link) stays out.
    return arg if isinstance(arg, int | float | bool | None) else f"<{type(arg).__name__}>"


class JobBackend(Protocol):
    def enqueue(self, func: Callable, args: tuple, *, delay: timedelta | None = None) -> None: ...

    def ping(self) -> None: ...


class RQBackend:
    """Jobs go to RQ queues on Redis; `worker.py` runs them."""

    def __init__(self, redis_url: str, *, prefix: str = "", timeout: int = 300):
        from redis import Redis

        self.redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
        self.prefix = prefix
        self.timeout = timeout

    def queue(self, name: str):
        from rq import Queue

        return Queue(self.prefix + name, connection=self.redis, default_timeout=self.timeout)

    def queue_names(self, names: tuple[str, ...]) -> list[str]:
        return [self.prefix + name for name in names]

    def enqueue(self, func: Callable, args: tuple, *, delay: timedelta | None = None) -> None:
        queue = self.queue(func.queue_name)
        if delay:
            queue.enqueue_in(delay, func, *args)
        else:
            queue.enqueue(func, *args)

    def ping(self) -> None:
        self.redis.ping()


class InProcessBackend:
    """One daemon thread runs jobs in due order, each in its own app context.

    For the embedded default only: jobs are lost when the process stops, which the periodic
    reconciler makes good on the next start, as it does for a flushed Redis.
    """

    def __init__(self, app: Flask, *, threaded: bool = True):
        self.app = app
        # threaded=False: nothing runs until someone calls drain() (the test suite does, so a
        # test decides exactly when jobs run, in its own thread).
        self.threaded = threaded
        self._heap: list[tuple[float, int, Callable, tuple]] = []
        self._seq = itertools.count()
        self._wakeup = threading.Condition()
        self._thread: threading.Thread | None = None

    def enqueue(self, func: Callable, args: tuple, *, delay: timedelta | None = None) -> None:
        due = time.monotonic() + (delay.total_seconds() if delay else 0)
        with self._wakeup:
            heapq.heappush(self._heap, (due, next(self._seq), func, args))
            if self.threaded:
                self._start()
            self._wakeup.notify()

    def drain(self) -> int:
        """Run every job that is due, and what they queue, in the calling thread; how many ran.

        Delayed jobs not yet due stay queued, as an RQ burst worker leaves scheduled ones.
        """
        ran = 0
        while True:
            with self._wakeup:
                if not self._heap or self._heap[0][0] > time.monotonic():
                    return ran
                _, _, func, args = heapq.heappop(self._heap)
            self._run(func, args)
            ran += 1

    def pending(self) -> list[tuple[Callable, tuple]]:
        """The queued jobs, due first."""
        with self._wakeup:
            return [(func, args) for _, _, func, args in sorted(self._heap)]

    def clear(self) -> None:
        with self._wakeup:
            self._heap.clear()

    def ping(self) -> None:
        if self._thread is not None and not self._thread.is_alive():
            raise RuntimeError("the in-process worker thread has stopped")

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="inprocess-worker", daemon=True)
            self._thread.start()

    def _next_job(self) -> tuple[Callable, tuple]:
        with self._wakeup:
            while True:
                wait = self._heap[0][0] - time.monotonic() if self._heap else None
                if wait is not None and wait <= 0:
                    _, _, func, args = heapq.heappop(self._heap)
                    return func, args
                self._wakeup.wait(timeout=wait)

    def _loop(self) -> None:
        while True:
            self._run(*self._next_job())

    def _run(self, func: Callable, args: tuple) -> None:
        with self.app.app_context():
            try:
                func(*args)
            except Exception:
                log.exception("in-process job %s%r failed", func.__name__, args)


def init_jobs(app: Flask) -> None:
    if app.config["REDIS_URL"]:
        backend: JobBackend = RQBackend(
            app.config["REDIS_URL"],
            prefix=app.config["QUEUE_PREFIX"],
            timeout=app.config["JOB_TIMEOUT"],
        )
    else:
        backend = InProcessBackend(app)
        app.before_request(_start_embedded_reconciler)
    app.extensions["jobs"] = backend


def _start_embedded_reconciler() -> None:
    # The embedded default has no worker process: the web process re-queues what a restart lost.
    app = current_app._get_current_object()
    if not app.extensions["jobs"].threaded:
        return  # jobs run only when drained: so does reconciling (`flask reconcile`)
    if not app.extensions.get("reconciler"):
        from app.tasks.maintenance import Reconciler

        app.extensions["reconciler"] = reconciler = Reconciler(app)
        reconciler.start()


def resolve(task: str | Callable) -> Callable:
    """The job function for a name (or the function itself)."""
    if callable(task):
        return task
    try:
        return _REGISTRY[task]
    except KeyError:
        raise LookupError(f"no job named {task!r} (app.tasks registers them)") from None


def jobs() -> JobBackend:
    return current_app.extensions["jobs"]


def enqueue(task: str | Callable, *args: Any, delay: timedelta | None = None) -> None:
    """Queue a job now, outside any transaction (CLI, reconciler)."""
    jobs().enqueue(resolve(task), args, delay=delay)


def enqueue_on_commit(task: str | Callable, *args: Any, delay: timedelta | None = None) -> None:
    """Queue `task(*args)` once the current transaction commits; dropped on rollback.

    So a worker never picks up a job for a row it cannot see yet.
    """
    db.session.info.setdefault("pending_jobs", []).append((resolve(task), args, delay))


@event.listens_for(db.session, "after_commit")
def _enqueue_pending(session) -> None:
    pending = session.info.pop("pending_jobs", [])
    for func, args, delay in pending:
        try:
            jobs().enqueue(func, args, delay=delay)
        except Exception:
            # The rows are committed; the reconciler re-enqueues work that never started.
            log.exception("could not enqueue %s%r", func.__name__, args)


@event.listens_for(db.session, "after_rollback")
def _drop_pending(session) -> None:
    session.info.pop("pending_jobs", None)
