"""Counts and duration histograms that outlive the process recording them.

RQ runs each job in a forked work horse that exits right after, so a metric kept in that
process's memory is gone before anyone scrapes it. Each run adds to a small aggregate instead:
on Redis, one hash per series (bucket counts, sum and count) under the backend's prefix, written
in one pipeline; on the embedded default, the same in this process's memory, where the
in-process worker runs the jobs. /metrics (app/services/ops/metrics.py) reads them back.

A series is a family name plus its labels; the labels' values must come from bounded sets (job
names, platforms, outcomes), never from user input.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Protocol

from flask import current_app, has_app_context

log = logging.getLogger(__name__)

JOB_DURATION = "job_duration_seconds"
# Jobs range from a database sweep (milliseconds) to an image decode or a slow platform upload
# (up to JOB_TIMEOUT, 300 s by default).
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

Labels = Mapping[str, str]
Series = list[tuple[dict[str, str], dict[str, float]]]


def bucket_field(bound: float) -> str:
    return "le:+Inf" if math.isinf(bound) else f"le:{bound!r}"


def _fields(value: float, buckets: Sequence[float]) -> dict[str, float]:
    """What one observation adds: one to the smallest bucket holding it (buckets are summed
    into Prometheus's cumulative ones when read), the value to the sum, one to the count."""
    bound = next((b for b in buckets if value <= b), math.inf)
    return {bucket_field(bound): 1, "sum": value, "count": 1}


def _series_id(labels: Labels) -> str:
    return json.dumps(dict(labels), sort_keys=True, separators=(",", ":"))


class Stats(Protocol):
    def observe(
        self, family: str, labels: Labels, value: float, buckets: Sequence[float]
    ) -> None: ...

    def increment(self, family: str, labels: Labels, amount: float = 1) -> None: ...

    def read(self, family: str) -> Series: ...


class _Stats(ABC):
    """Histogram observations and counter increments, as field increments of one series."""

    def observe(self, family: str, labels: Labels, value: float, buckets: Sequence[float]) -> None:
        self._add(family, labels, _fields(value, buckets))

    def increment(self, family: str, labels: Labels, amount: float = 1) -> None:
        self._add(family, labels, {"value": amount})

    @abstractmethod
    def _add(self, family: str, labels: Labels, fields: dict[str, float]) -> None: ...


class RedisStats(_Stats):
    """Series in Redis: `<prefix>stats:<family>` is the set of series, each a hash at
    `<prefix>stats:<family>:<labels as JSON>`."""

    def __init__(self, redis, prefix: str = "") -> None:
        self.redis, self.prefix = redis, prefix

    def _index(self, family: str) -> str:
        return f"{self.prefix}stats:{family}"

    def _add(self, family: str, labels: Labels, fields: dict[str, float]) -> None:
        series = _series_id(labels)
        key = f"{self._index(family)}:{series}"
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(self._index(family), series)
            for field, amount in fields.items():
                if float(amount).is_integer():
                    pipe.hincrby(key, field, int(amount))
                else:
                    pipe.hincrbyfloat(key, field, amount)
            pipe.execute()

    def read(self, family: str) -> Series:
        members = sorted(m.decode() for m in self.redis.smembers(self._index(family)))
        with self.redis.pipeline(transaction=False) as pipe:
            for series in members:
                pipe.hgetall(f"{self._index(family)}:{series}")
            hashes = pipe.execute()
        return [
            (json.loads(series), {k.decode(): float(v) for k, v in values.items()})
            for series, values in zip(members, hashes, strict=True)
            if values
        ]


class MemoryStats(_Stats):
    """The same series in this process (the embedded default runs its jobs in-process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[str, dict[str, defaultdict[str, float]]] = defaultdict(dict)

    def _add(self, family: str, labels: Labels, fields: dict[str, float]) -> None:
        series = _series_id(labels)
        with self._lock:
            values = self._series[family].setdefault(series, defaultdict(float))
            for field, amount in fields.items():
                values[field] += amount

    def read(self, family: str) -> Series:
        with self._lock:
            return [
                (json.loads(series), dict(values))
                for series, values in sorted(self._series[family].items())
            ]


def stats() -> Stats:
    """The current app's store: in the job backend's Redis when it has one, else in memory."""
    backend = current_app.extensions["jobs"]
    redis = getattr(backend, "redis", None)
    if redis is not None:
        return RedisStats(redis, getattr(backend, "prefix", ""))
    return current_app.extensions.setdefault("job_stats", MemoryStats())


def record_job(name: str, outcome: str, seconds: float) -> None:
    """Add one run of job `name` to its duration histogram; never raises (the job's own
    outcome must not depend on whether its metric could be written)."""
    if not has_app_context():
        return
    try:
        stats().observe(JOB_DURATION, {"job": name, "outcome": outcome}, seconds, JOB_BUCKETS)
    except Exception:
        log.warning("could not record the duration of job %s", name, exc_info=True)
