"""The embedded default's worker: one daemon thread in the web process runs jobs in due order.

Jobs are lost when the process stops; the periodic reconciler, which this thread also runs,
makes that good on the next start, as it does for a flushed Redis.

Being the whole job system here, it also keeps what RQ's registries keep on Redis, for the admin
page: runs started/finished/failed in the last hour, the job running now, a heartbeat, and the
last failed runs (which can be retried or deleted).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask

from app.jobs.registry import DEFAULT, QUEUES, job_id

log = logging.getLogger(__name__)

HOUR = 3600.0
FAILED_KEPT = 200  # failed runs remembered (the oldest are forgotten first)
# The idle loop still wakes this often, so its heartbeat shows it is alive.
HEARTBEAT_SECONDS = 5.0
OUTCOMES = ("started", "finished", "failed")


@dataclass(frozen=True)
class FailedRun:
    id: str
    queue: str
    func: Callable
    args: tuple
    error: str
    failed_at: float  # time.time()


@dataclass(frozen=True)
class Running:
    id: str
    func: Callable
    args: tuple
    started_at: float  # time.time()


class InProcessBackend:
    def __init__(self, app: Flask, *, threaded: bool = True):
        self.app = app
        # threaded=False: nothing runs until someone calls drain() (the test suite does, so a
        # test decides exactly when jobs run, in its own thread).
        self.threaded = threaded
        # (due, seq, job id, func, args, repeat every n seconds or None)
        self._heap: list[tuple[float, int, str, Callable, tuple, float | None]] = []
        self._waiting: set[str] = set()
        self._seq = itertools.count()
        self._wakeup = threading.Condition()
        self._thread: threading.Thread | None = None
        self.periodic_started = False
        # The admin page's view of this worker (all guarded by _wakeup's lock).
        self._recent = {q: {o: deque() for o in OUTCOMES} for q in QUEUES}
        self._failed: OrderedDict[str, FailedRun] = OrderedDict()
        self.current: Running | None = None
        self.heartbeat: float | None = None  # time.time() of the loop's last tick
        self.jobs_done = 0
        self.jobs_failed = 0

    def job_id(self, func: Callable, args: tuple) -> str:
        return job_id(func, args)

    def enqueue(self, func: Callable, args: tuple, *, delay: timedelta | None = None) -> str | None:
        """Queue `func(*args)`; None when identical work already waits (the same id)."""
        return self._push(func, args, delay.total_seconds() if delay else 0, None)

    def start_periodic(self, schedule: dict[Callable, int]) -> None:
        """Run each job now and then every `seconds` (once per process)."""
        with self._wakeup:
            if self.periodic_started:
                return
            self.periodic_started = True
        for func, seconds in schedule.items():
            self._push(func, (), 0, float(seconds))

    def drain(self) -> int:
        """Run every job that is due, and what they queue, in the calling thread; how many ran.

        Delayed jobs not yet due stay queued, as an RQ burst worker leaves scheduled ones.
        """
        ran = 0
        while True:
            with self._wakeup:
                if not self._heap or self._heap[0][0] > time.monotonic():
                    return ran
                _, _, jid, func, args, every = heapq.heappop(self._heap)
                self._waiting.discard(jid)
            self._run(func, args, every)
            ran += 1

    def pending(self, *, due_only: bool = False) -> list[tuple[Callable, tuple]]:
        """The queued jobs, due first (only those due now with `due_only`)."""
        now = time.monotonic()
        with self._wakeup:
            entries = sorted(self._heap)
        return [(e[3], e[4]) for e in entries if not due_only or e[0] <= now]

    def queue_depths(self) -> dict[str, int]:
        """Jobs waiting per queue (delayed and periodic ones included), by queue name."""
        depths = dict.fromkeys(QUEUES, 0)
        with self._wakeup:
            for entry in self._heap:
                queue = getattr(entry[3], "queue_name", DEFAULT)
                depths[queue] = depths.get(queue, 0) + 1
        return depths

    def waiting(self) -> list[tuple[float, str, Callable, tuple, float | None]]:
        """Every queued entry as (due as time.time(), job id, func, args, repeat seconds)."""
        offset = time.time() - time.monotonic()
        with self._wakeup:
            entries = sorted(self._heap)
        return [(e[0] + offset, e[2], e[3], e[4], e[5]) for e in entries]

    def recent(self, queue: str) -> dict[str, int]:
        """Runs on `queue` started, finished and failed in the last hour."""
        with self._wakeup:
            counts = self._recent.get(queue) or {o: deque() for o in OUTCOMES}
            for times in counts.values():
                _prune(times)
            return {outcome: len(times) for outcome, times in counts.items()}

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def failed_runs(self) -> list[FailedRun]:
        """The remembered failed runs, newest first (one per job id: the latest failure)."""
        with self._wakeup:
            return list(reversed(self._failed.values()))

    def retry_failed(self, jid: str) -> bool:
        """Queue a failed run again (it leaves the failed list); False if there is no such run."""
        with self._wakeup:
            run = self._failed.pop(jid, None)
        if run is None:
            return False
        self._push(run.func, run.args, 0, None)  # None: the same work already waits, also fine
        return True

    def delete_failed(self, jid: str) -> bool:
        with self._wakeup:
            return self._failed.pop(jid, None) is not None

    def clear(self) -> None:
        with self._wakeup:
            self._heap.clear()
            self._waiting.clear()

    def ping(self) -> None:
        if self._thread is not None and not self._thread.is_alive():
            raise RuntimeError("the in-process worker thread has stopped")

    def _push(self, func: Callable, args: tuple, delay: float, every: float | None) -> str | None:
        # A periodic entry has its own key, so the same work queued by hand never ends the cycle.
        jid = self.job_id(func, args) + ("@every" if every is not None else "")
        with self._wakeup:
            if jid in self._waiting:
                return None
            self._waiting.add(jid)
            entry = (time.monotonic() + delay, next(self._seq), jid, func, args, every)
            heapq.heappush(self._heap, entry)
            if self.threaded:
                self._start()
            self._wakeup.notify()
        return jid

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="inprocess-worker", daemon=True)
            self._thread.start()

    def _next_job(self) -> tuple[Callable, tuple, float | None]:
        with self._wakeup:
            while True:
                self.heartbeat = time.time()
                wait = self._heap[0][0] - time.monotonic() if self._heap else None
                if wait is not None and wait <= 0:
                    _, _, jid, func, args, every = heapq.heappop(self._heap)
                    self._waiting.discard(jid)  # running: the same work queued now runs again
                    return func, args, every
                self._wakeup.wait(timeout=min(wait or HEARTBEAT_SECONDS, HEARTBEAT_SECONDS))

    def _loop(self) -> None:
        while True:
            self._run(*self._next_job())

    def _run(self, func: Callable, args: tuple, every: float | None) -> None:
        jid = self.job_id(func, args)
        queue = getattr(func, "queue_name", DEFAULT)
        error = None
        with self._wakeup:
            # Running the same work again replaces its failed run, as RQ's re-enqueue does.
            self._failed.pop(jid, None)
            self.current = Running(jid, func, args, time.time())
            self._note(queue, "started")
        with self.app.app_context():
            try:
                func(*args)
            except Exception as exc:
                log.exception("in-process job %s%r failed", func.__name__, args)
                error = _first_line(exc)
        with self._wakeup:
            self.current = None
            self.heartbeat = time.time()
            if error is None:
                self.jobs_done += 1
                self._note(queue, "finished")
            else:
                self.jobs_failed += 1
                self._note(queue, "failed")
                self._failed[jid] = FailedRun(jid, queue, func, args, error, time.time())
                while len(self._failed) > FAILED_KEPT:
                    self._failed.popitem(last=False)
        if every is not None:
            self._push(func, args, every, every)

    def _note(self, queue: str, outcome: str) -> None:
        times = self._recent.setdefault(queue, {o: deque() for o in OUTCOMES})[outcome]
        times.append(time.time())
        _prune(times)


def _prune(times: deque) -> None:
    cutoff = time.time() - HOUR
    while times and times[0] < cutoff:
        times.popleft()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
