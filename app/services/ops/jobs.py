"""Queues, workers and failed jobs for the admin status page, read from the job system itself.

On Redis that is RQ's own data: queue lists, its started/finished/failed/scheduled registries,
its worker records and its cron scheduler's record. In the embedded default the in-process
worker keeps the same facts about itself (app/jobs/inprocess.py). One small reader per backend;
the page sees the same dataclasses either way.
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from rq import Queue, Worker
from rq.cron import CronScheduler
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.results import Result

from app.jobs import QUEUES, InProcessBackend, RQBackend
from app.jobs.periodic import SCHEDULE
from app.jobs.redis_backend import FAILURE_TTL, RESULT_TTL

HOUR = 3600
FAILED_SHOWN = 50
# What RQ (and job_id()) allow in a job id; anything else cannot be one of ours.
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")


class UnknownJob(LookupError):
    """No failed job with that id (never was, or already retried or deleted)."""


@dataclass(frozen=True)
class QueueState:
    name: str
    depth: int  # waiting to run now
    oldest_age_seconds: float | None
    running: int
    scheduled: int  # delayed: waiting for a later time
    next_scheduled_at: datetime | None
    started_last_hour: int
    finished_last_hour: int
    failed_last_hour: int


@dataclass(frozen=True)
class WorkerState:
    name: str
    alive: bool
    heartbeat_age_seconds: float | None
    current_job: str | None
    jobs_done: int
    jobs_failed: int
    host: str | None
    pid: int | None


@dataclass(frozen=True)
class FailedJob:
    id: str
    queue: str
    description: str
    error_first_line: str
    failed_at: datetime | None


@dataclass(frozen=True)
class ScheduledRun:
    name: str
    interval_seconds: int
    next_run: datetime | None  # None: nothing is scheduling it right now


def describe(func_name: str, args: tuple | list) -> str:
    """`process_image(12)`: the function and its ids; other arguments (paths, addresses) are
    shown by type only, as in the job log line, since they may carry secrets."""
    shown = (
        repr(a) if isinstance(a, int | float | bool | None) else f"<{type(a).__name__}>"
        for a in args
    )
    return f"{func_name.rsplit('.', 1)[-1]}({', '.join(shown)})"


def error_first_line(text: str | None) -> str:
    """The exception line of a traceback ("ValueError: boom"), or the message's first line."""
    lines = (text or "").strip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent")]
    if starts:
        for line in lines[starts[-1] + 1 :]:
            if line and not line[0].isspace():
                return line[:300]
    return lines[0][:300] if lines else "(no error recorded)"


def _utc(timestamp: float | None) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if timestamp is not None else None


def _age(moment: datetime | None) -> float | None:
    return None if moment is None else max(0.0, time.time() - moment.timestamp())


def _intervals() -> dict[str, int]:
    return {name: int(current_app.config[setting]) for name, setting in SCHEDULE.items()}


class RQJobs:
    def __init__(self, backend: RQBackend):
        self.backend = backend
        self.redis = backend.redis

    def queues(self) -> list[QueueState]:
        depths = self.backend.queue_depths()
        now = time.time()
        states = []
        for name in QUEUES:
            queue = self.backend.queue(name)
            head = queue.get_job_ids(0, 1)
            oldest = self._fetch(head[0]) if head else None
            scheduled = queue.scheduled_job_registry
            next_due = self.redis.zrange(scheduled.key, 0, 0, withscores=True)
            # A registry's score is when its entry expires: ended + ttl, the same ttl for all
            # of our jobs, so "ended within the hour" is a score above now + ttl - 1 h.
            finished = self._count_since(queue.finished_job_registry, now + RESULT_TTL - HOUR)
            failed = self._count_since(queue.failed_job_registry, now + FAILURE_TTL - HOUR)
            running = queue.started_job_registry.get_job_count(cleanup=False)
            states.append(
                QueueState(
                    name=name,
                    depth=depths[name],
                    oldest_age_seconds=_age(oldest.enqueued_at) if oldest else None,
                    running=running,
                    scheduled=scheduled.get_job_count(cleanup=False),
                    next_scheduled_at=_utc(next_due[0][1]) if next_due else None,
                    # Every run that started in the hour is running now or ended since.
                    started_last_hour=running + finished + failed,
                    finished_last_hour=finished,
                    failed_last_hour=failed,
                )
            )
        return states

    def _count_since(self, registry, score: float) -> int:
        return self.redis.zcount(registry.key, f"({score}", "+inf")

    def _fetch(self, jid: str) -> Job | None:
        try:
            return Job.fetch(jid, connection=self.redis)
        except NoSuchJobError:
            return None

    def workers(self) -> list[WorkerState]:
        found: dict[str, Worker] = {}
        for name in QUEUES:
            for worker in Worker.all(queue=self.backend.queue(name)):
                found.setdefault(worker.name, worker)
        ttl = current_app.config["WORKER_TTL"]
        states = []
        for worker in sorted(found.values(), key=lambda w: (w.hostname or "", w.pid or 0)):
            age = _age(worker.last_heartbeat)
            current = worker.get_current_job_id()
            job = self._fetch(current) if current else None
            states.append(
                WorkerState(
                    name=worker.name,
                    alive=age is not None and age <= ttl,
                    heartbeat_age_seconds=age,
                    current_job=describe(job.func_name, job.args) if job else current,
                    jobs_done=worker.successful_job_count,
                    jobs_failed=worker.failed_job_count,
                    host=worker.hostname,
                    pid=worker.pid,
                )
            )
        return states

    def schedule(self) -> list[ScheduledRun]:
        prefix = self.backend.prefix
        next_runs: dict[str, datetime] = {}
        # Every worker runs a cron scheduler (periodic.trigger keeps it to one run per period):
        # the next run is the earliest any of them plans.
        for scheduler in CronScheduler.all(self.redis):
            if not scheduler.name.startswith(f"{prefix}periodic-"):
                continue
            for cron_job in scheduler.get_jobs():
                name = cron_job.name.removeprefix(prefix)
                due = cron_job.next_enqueue_time
                if due is not None and (name not in next_runs or due < next_runs[name]):
                    next_runs[name] = due
        return [
            ScheduledRun(name, every, next_runs.get(name)) for name, every in _intervals().items()
        ]

    def failed(self, limit: int = FAILED_SHOWN) -> tuple[list[FailedJob], int]:
        entries: list[tuple[float, str, str]] = []
        for name in QUEUES:
            registry = self.backend.queue(name).failed_job_registry
            newest = self.redis.zrange(registry.key, 0, limit - 1, desc=True, withscores=True)
            entries += [(score, jid.decode(), name) for jid, score in newest]
        total = sum(self.backend.queue(name).failed_job_registry.count for name in QUEUES)
        jobs = []
        for _, jid, name in sorted(entries, reverse=True)[:limit]:
            job = self._fetch(jid)
            if job is None:
                continue  # expired or deleted meanwhile
            result = job.latest_result()
            error = result.exc_string if result and result.type == Result.Type.FAILED else None
            jobs.append(
                FailedJob(
                    id=jid,
                    queue=name,
                    description=describe(job.func_name, job.args),
                    error_first_line=error_first_line(error),
                    failed_at=job.ended_at,
                )
            )
        return jobs, total

    def _failed_job(self, jid: str) -> tuple[Job, FailedJobRegistry]:
        job = self._fetch(jid) if JOB_ID.fullmatch(jid) else None
        if job is not None:
            registry = FailedJobRegistry(queue=Queue(job.origin, connection=self.redis))
            ours = job.origin in self.backend.queue_names(QUEUES)
            if ours and self.redis.zscore(registry.key, jid) is not None:
                return job, registry
        raise UnknownJob(jid)

    def retry(self, jid: str) -> None:
        job, registry = self._failed_job(jid)
        try:
            registry.requeue(job)
        except InvalidJobOperation:  # retried by someone else a moment ago
            raise UnknownJob(jid) from None

    def delete(self, jid: str) -> None:
        job, registry = self._failed_job(jid)
        registry.remove(job, delete_job=True)

    def retry_all(self) -> int:
        count = 0
        for name in QUEUES:
            registry = self.backend.queue(name).failed_job_registry
            for jid in registry.get_job_ids():
                try:
                    registry.requeue(jid)
                    count += 1
                except (InvalidJobOperation, NoSuchJobError):
                    continue  # gone meanwhile
        return count


class InProcessJobs:
    def __init__(self, backend: InProcessBackend):
        self.backend = backend

    def queues(self) -> list[QueueState]:
        now = time.time()
        waiting = self.backend.waiting()
        current = self.backend.current
        states = []
        for name in QUEUES:
            ours = [w for w in waiting if getattr(w[2], "queue_name", None) == name]
            due = [w for w in ours if w[0] <= now]
            # Periodic rounds are listed with the schedule, not as delayed work.
            later = [w for w in ours if w[0] > now and w[4] is None]
            recent = self.backend.recent(name)
            states.append(
                QueueState(
                    name=name,
                    depth=len(due),
                    oldest_age_seconds=now - min(w[0] for w in due) if due else None,
                    running=int(current is not None and current.func.queue_name == name),
                    scheduled=len(later),
                    next_scheduled_at=_utc(min(w[0] for w in later)) if later else None,
                    started_last_hour=recent["started"],
                    finished_last_hour=recent["finished"],
                    failed_last_hour=recent["failed"],
                )
            )
        return states

    def workers(self) -> list[WorkerState]:
        backend = self.backend
        if not backend.threaded:
            return []  # nothing runs jobs on its own: only explicit drain() calls do
        if backend.heartbeat is None and not backend.alive():
            return []  # not started yet: it starts with the first job
        current = backend.current
        return [
            WorkerState(
                name="in-process",
                alive=backend.alive(),
                heartbeat_age_seconds=_age(_utc(backend.heartbeat)),
                current_job=describe(current.func.__name__, current.args) if current else None,
                jobs_done=backend.jobs_done,
                jobs_failed=backend.jobs_failed,
                host=socket.gethostname(),
                pid=os.getpid(),
            )
        ]

    def schedule(self) -> list[ScheduledRun]:
        next_runs = {w[2].__name__: _utc(w[0]) for w in self.backend.waiting() if w[4] is not None}
        return [
            ScheduledRun(name, every, next_runs.get(name)) for name, every in _intervals().items()
        ]

    def failed(self, limit: int = FAILED_SHOWN) -> tuple[list[FailedJob], int]:
        runs = self.backend.failed_runs()
        jobs = [
            FailedJob(
                id=run.id,
                queue=run.queue,
                description=describe(run.func.__name__, run.args),
                error_first_line=run.error[:300],
                failed_at=_utc(run.failed_at),
            )
            for run in runs[:limit]
        ]
        return jobs, len(runs)

    def retry(self, jid: str) -> None:
        if not self.backend.retry_failed(jid):
            raise UnknownJob(jid)

    def delete(self, jid: str) -> None:
        if not self.backend.delete_failed(jid):
            raise UnknownJob(jid)

    def retry_all(self) -> int:
        return sum(self.backend.retry_failed(run.id) for run in self.backend.failed_runs())


def reader() -> RQJobs | InProcessJobs:
    backend = current_app.extensions["jobs"]
    return RQJobs(backend) if isinstance(backend, RQBackend) else InProcessJobs(backend)


def warnings(queues: list[QueueState], workers: list[WorkerState]) -> list[str]:
    """What an operator must act on: nobody runs the jobs, or jobs wait too long."""
    found = []
    if not any(worker.alive for worker in workers):
        found.append("No worker is alive: queued jobs are not being run.")
    limit = current_app.config["ADMIN_QUEUE_AGE_WARNING"]
    for queue in queues:
        if queue.oldest_age_seconds is not None and queue.oldest_age_seconds > limit:
            found.append(
                f"The oldest job on the {queue.name} queue has waited "
                f"{duration_text(queue.oldest_age_seconds)} (more than {duration_text(limit)})."
            )
    return found


def duration_text(seconds: float) -> str:
    """A span of time as the page shows it: "45 s", "12 min", "3 h", "2 d"."""
    seconds = int(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= 2 * size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def queues_overview() -> dict[str, Any]:
    jobs = reader()
    queues = jobs.queues()
    return {
        "queues": queues,
        "schedule": jobs.schedule(),
        "warnings": warnings(queues, jobs.workers()),
    }


def workers_overview() -> dict[str, Any]:
    return {"workers": reader().workers(), "ttl": current_app.config["WORKER_TTL"]}


def failed_overview() -> dict[str, Any]:
    failed, total = reader().failed()
    return {"failed": failed, "total": total}


def retry(jid: str) -> None:
    """Run a failed job again; UnknownJob when there is no failed job with that id."""
    reader().retry(jid)


def delete(jid: str) -> None:
    """Forget a failed job; UnknownJob when there is no failed job with that id."""
    reader().delete(jid)


def retry_all() -> int:
    """Run every failed job again; how many were queued."""
    return reader().retry_all()
