"""Jobs on RQ queues in Redis; `worker.py` runs them.

Every job gets a deterministic id (see registry.job_id). Enqueueing work whose job still waits
(queued, scheduled or deferred) is a no-op; work that is running or done is queued again, under
the next free slot id, because its rows may have changed since it started.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from redis import Redis
from redis.exceptions import WatchError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

from app.jobs.registry import QUEUES, job_id

log = logging.getLogger(__name__)

# Statuses after which a job id may be taken again; "started" is neither waiting nor done.
_DONE = {b"finished", b"failed", b"stopped", b"canceled"}
_WAITING = {b"queued", b"scheduled", b"deferred", b"created"}
# Runs of the same work that may overlap (each slot one running or waiting copy) before a new
# copy falls back to a random id rather than being dropped.
SLOTS = 4
# RQ's scheduler moves a due job to its queue within a second or so. One still "scheduled" this
# long after its time has no scheduler: the worker holding the scheduler lock died, and RQ lets
# another worker take the lock over only at its maintenance round. Such a job counts as lost, so
# the reconciler's enqueue replaces it with one queued now instead of waiting on it forever.
OVERDUE_SECONDS = 10
# How long RQ keeps a finished job (and its place in the finished registry): at least an hour, so
# the admin page can count the last hour's work from RQ's own registry. Failed jobs stay a week,
# long enough to be looked at and retried.
RESULT_TTL = 3600
FAILURE_TTL = 7 * 24 * 3600


class RQBackend:
    def __init__(self, redis_url: str, *, prefix: str = "", timeout: int = 300):
        self.redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5)
        self.prefix = prefix
        self.timeout = timeout

    def queue(self, name: str) -> Queue:
        return Queue(self.prefix + name, connection=self.redis, default_timeout=self.timeout)

    def queue_names(self, names: tuple[str, ...]) -> list[str]:
        return [self.prefix + name for name in names]

    def job_id(self, func: Callable, args: tuple) -> str:
        return job_id(func, args, self.prefix)

    def enqueue(self, func: Callable, args: tuple, *, delay: timedelta | None = None) -> str | None:
        """Queue `func(*args)`; the job id, or None when identical work already waits."""
        queue = self.queue(func.queue_name)
        base = self.job_id(func, args)
        ids = [base, *(f"{base}-{slot}" for slot in range(1, SLOTS))]
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    # Watching the queue too: a worker popping a job changes it before the job's
                    # own status, and that job must not look free in between.
                    pipe.watch(queue.key, *(Job.key_for(jid) for jid in ids))
                    states = [self._state(pipe, queue, jid) for jid in ids]
                    if "waiting" in states:
                        return None
                    free = next((i for i, s in enumerate(states) if s in ("free", "done")), None)
                    chosen = ids[free] if free is not None else f"{base}-{uuid.uuid4().hex[:8]}"
                    done = free is not None and states[free] == "done"
                    stale = self._fetch(chosen) if done else None
                    pipe.multi()
                    if stale is not None:
                        stale.delete(pipeline=pipe)
                    kept = {"result_ttl": RESULT_TTL, "failure_ttl": FAILURE_TTL}
                    if delay:
                        queue.enqueue_in(delay, func, *args, job_id=chosen, pipeline=pipe, **kept)
                    else:
                        queue.enqueue_call(func, args=args, job_id=chosen, pipeline=pipe, **kept)
                    pipe.execute()
                    return chosen
                except WatchError:
                    continue

    def _fetch(self, jid: str) -> Job | None:
        try:
            return Job.fetch(jid, connection=self.redis)
        except NoSuchJobError:  # expired meanwhile; the WATCH retries if it mattered
            return None

    @staticmethod
    def _state(pipe, queue: Queue, jid: str) -> str:
        status = pipe.hget(Job.key_for(jid), "status")
        if status is None:
            return "free"
        if status in _DONE:
            return "done"
        if status == b"queued" and pipe.lpos(queue.key, jid) is None:
            return "busy"  # popped by a worker that has not marked it started yet
        if status == b"scheduled":
            due = pipe.zscore(queue.scheduled_job_registry.key, jid)
            if due is None or due < time.time() - OVERDUE_SECONDS:
                return "done"  # no scheduler is moving it (see OVERDUE_SECONDS)
        return "waiting" if status in _WAITING else "busy"

    def ping(self) -> None:
        self.redis.ping()

    def queue_depths(self) -> dict[str, int]:
        """Jobs waiting in each queue, by queue name (without the prefix); delayed ones wait in
        RQ's scheduled registry and are not counted."""
        with self.redis.pipeline(transaction=False) as pipe:
            for name in QUEUES:
                pipe.llen(self.queue(name).key)
            return dict(zip(QUEUES, pipe.execute(), strict=True))
