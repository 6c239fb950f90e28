"""Threads for the image pipeline: a small task pool, and a gate for tasks that read rows of a
picture still being decoded.

Pillow releases the GIL while decoding, resampling, in lcms and while encoding into a real file,
so plain threads share the cores. The calling thread works too (and may decode meanwhile): a
pool of threads kept alive between calls would buy nothing measurable and outlive forks.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable


class Pool:
    """Runs queued tasks on `threads` threads, the calling one included; tasks may queue more.
    The task with the longest work still behind it runs first (critical path first)."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.cond = threading.Condition()
        self.queue: list[tuple[float, int, Callable[[], None]]] = []
        self.order = itertools.count()
        self.running = 0
        self.feeding = False  # the calling thread is still queueing work (decoding)
        self.error: BaseException | None = None

    def submit(self, fn: Callable[[], None], priority: float = 0.0) -> None:
        with self.cond:
            heapq.heappush(self.queue, (-priority, next(self.order), fn))
            self.cond.notify()

    def run(self, feed: Callable[[], None] | None = None) -> None:
        """Until every queued task (and what they queue) is done; re-raises the first error.
        `feed` runs first on the calling thread while the other threads take tasks."""
        self.error = None
        self.feeding = feed is not None
        helpers = [threading.Thread(target=self._work) for _ in range(self.threads - 1)]
        for t in helpers:
            t.start()
        try:
            if feed is not None:
                feed()
        except BaseException as exc:
            with self.cond:
                self.error = self.error or exc
        finally:
            with self.cond:
                self.feeding = False
                self.cond.notify_all()
        self._work()
        for t in helpers:
            t.join()
        if self.error is not None:
            raise self.error

    def _work(self) -> None:
        while True:
            with self.cond:
                while not self.queue and (self.running or self.feeding) and self.error is None:
                    self.cond.wait()
                if self.error is not None or not self.queue:
                    self.cond.notify_all()
                    return
                fn = heapq.heappop(self.queue)[2]
                self.running += 1
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller by run()
                with self.cond:
                    self.error = self.error or exc
            finally:
                with self.cond:
                    self.running -= 1
                    self.cond.notify_all()


class Gate:
    """Holds back tasks that read region rows not decoded yet; `progress` lets them through."""

    def __init__(self, pool: Pool, rows: int) -> None:
        self.pool, self.rows = pool, rows
        self.lock = threading.Lock()
        self.waiting: list[tuple[int, int, float, Callable[[], None]]] = []
        self.order = itertools.count()

    def submit(self, fn: Callable[[], None], rows: int, priority: float) -> None:
        """Queue `fn` once the region's first `rows` rows are decoded."""
        with self.lock:
            if rows > self.rows:
                heapq.heappush(self.waiting, (rows, next(self.order), priority, fn))
                return
        self.pool.submit(fn, priority)

    def progress(self, rows: int) -> None:
        ready = []
        with self.lock:
            self.rows = max(self.rows, rows)
            while self.waiting and self.waiting[0][0] <= self.rows:
                ready.append(heapq.heappop(self.waiting))
        for _, _, priority, fn in ready:
            self.pool.submit(fn, priority)
