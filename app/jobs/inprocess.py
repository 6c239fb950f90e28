"""The embedded default's worker: one daemon thread in the web process runs jobs in due order.

Jobs are lost when the process stops; the periodic reconciler, which this thread also runs,
makes that good on the next start, as it does for a flushed Redis.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from flask import Flask

from app.jobs.registry import DEFAULT, QUEUES, job_id

log = logging.getLogger(__name__)


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
                wait = self._heap[0][0] - time.monotonic() if self._heap else None
                if wait is not None and wait <= 0:
                    _, _, jid, func, args, every = heapq.heappop(self._heap)
                    self._waiting.discard(jid)  # running: the same work queued now runs again
                    return func, args, every
                self._wakeup.wait(timeout=wait)

    def _loop(self) -> None:
        while True:
            self._run(*self._next_job())

    def _run(self, func: Callable, args: tuple, every: float | None) -> None:
        with self.app.app_context():
            try:
                func(*args)
            except Exception:
                log.exception("in-process job %s%r failed", func.__name__, args)
        if every is not None:
            self._push(func, args, every, every)
