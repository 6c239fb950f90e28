"""What /metrics exposes, in the Prometheus text format.

- HTTP requests by endpoint, method and status, with a latency histogram: prometheus-client's
  own metrics, counted in the request hooks. Under gunicorn each worker process has its own;
  PROMETHEUS_MULTIPROC_DIR (set by gunicorn.conf.py before the workers fork) makes them write
  to files there, and a scrape, whichever worker answers it, merges every worker's files.
- Queue depths, job durations and push outcomes: read at scrape time from the job backend and
  from the aggregates the jobs wrote (app/jobs/stats.py), because jobs run in other processes
  (RQ work horses) that are gone by the time anyone scrapes.

Label values come from bounded sets only (endpoint names, never paths), so a scanner requesting
random URLs adds no series.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator

from flask import current_app
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.utils import floatToGoString

from app.jobs import after_commit
from app.jobs.stats import JOB_BUCKETS, JOB_DURATION, Stats, bucket_field, stats

log = logging.getLogger(__name__)

PUSHES = "sync_pushes"
# A sync task's end (its TaskStatus), plus "rate_limited" for each 429 met on the way.
PUSH_OUTCOMES = frozenset({"succeeded", "skipped", "failed", "needs_reconnect", "rate_limited"})
# Methods anyone can send are unbounded; these are the ones the app answers.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# The *_created series double every counter for a timestamp nobody graphs (and multiprocess mode
# has none, so one process would differ from gunicorn).
disable_created_metrics()

# Kept out of prometheus-client's global registry: a scrape builds its own registry, with these
# (one process) or with the merged files of every worker (gunicorn).
_http = CollectorRegistry()
HTTP_REQUESTS = Counter(
    "linkarooie_http_requests",
    "HTTP requests answered, by endpoint (Flask endpoint name; unknown: no route), method and "
    "status.",
    ("endpoint", "method", "status"),
    registry=_http,
)
HTTP_LATENCY = Histogram(
    "linkarooie_http_request_duration_seconds",
    "Time from the first request hook to the response, by endpoint and method.",
    ("endpoint", "method"),
    buckets=HTTP_BUCKETS,
    registry=_http,
)


def observe_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    endpoint = endpoint or "unknown"
    method = method if method in METHODS else "other"
    HTTP_REQUESTS.labels(endpoint, method, str(status)).inc()
    HTTP_LATENCY.labels(endpoint, method).observe(seconds)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


# Pushes are counted as they end rather than derived from the sync_tasks table at scrape time:
# a counter must never go down, and rows do (a "Retry" turns a failed task back into a queued
# one, and deleting an account deletes its tasks); a 429 leaves no row of its own either. Counted
# on commit, so an ending that was rolled back is not counted.
def count_push(platform: str, outcome: str) -> None:
    """One push to `platform` ended with `outcome`, once the current transaction commits."""
    after_commit(_count_push, platform, outcome)


def _count_push(platform: str, outcome: str) -> None:
    try:
        stats().increment(PUSHES, {"platform": platform, "outcome": outcome})
    except Exception:  # the task's row is committed; a lost count must not undo or fail it
        log.warning("could not count a %s push to %s", outcome, platform, exc_info=True)


class AppCollector:
    """The metrics read at scrape time. A source that cannot be read (Redis away) is left out
    and shows as linkarooie_metrics_source_up 0, instead of failing the whole scrape."""

    def __init__(self, backend, store: Stats) -> None:
        self.backend, self.store = backend, store

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "linkarooie_metrics_source_up",
            "1 if the source could be read for this scrape, 0 if not (see the app's log).",
            labels=("source",),
        )
        for source, collect in (
            ("queues", self._queues),
            ("jobs", self._jobs),
            ("pushes", self._pushes),
        ):
            try:
                family = collect()
            except Exception:
                log.warning("metrics: could not read %s", source, exc_info=True)
                up.add_metric((source,), 0)
                continue
            up.add_metric((source,), 1)
            yield family
        yield up

    def _queues(self) -> Metric:
        family = GaugeMetricFamily(
            "linkarooie_queue_depth", "Jobs waiting on each queue.", labels=("queue",)
        )
        for queue, depth in sorted(self.backend.queue_depths().items()):
            family.add_metric((queue,), depth)
        return family

    def _jobs(self) -> Metric:
        family = HistogramMetricFamily(
            "linkarooie_job_duration_seconds",
            "How long job runs took, by job and outcome (succeeded or failed).",
            labels=("job", "outcome"),
        )
        for labels, fields in self.store.read(JOB_DURATION):
            family.add_metric(
                (labels["job"], labels["outcome"]),
                _cumulative(fields, JOB_BUCKETS),
                fields.get("sum", 0.0),
            )
        return family

    def _pushes(self) -> Metric:
        family = CounterMetricFamily(
            "linkarooie_sync_pushes",
            "Pushes to platforms by outcome: how each sync task ended (succeeded, skipped, "
            "failed, needs_reconnect), and every rate-limited (429) attempt met on the way.",
            labels=("platform", "outcome"),
        )
        for labels, fields in self.store.read(PUSHES):
            family.add_metric((labels["platform"], labels["outcome"]), fields.get("value", 0.0))
        return family


def _cumulative(fields: dict[str, float], buckets: tuple[float, ...]) -> list[tuple[str, float]]:
    total, result = 0.0, []
    for bound in (*buckets, math.inf):
        total += fields.get(bucket_field(bound), 0.0)
        result.append((floatToGoString(bound), total))
    return result


def exposition() -> bytes:
    """Every metric, in the Prometheus text format (needs an app context, no database)."""
    registry = CollectorRegistry()
    if path := multiprocess_dir():
        MultiProcessCollector(registry, path=path)
    else:
        registry.register(_http)
    registry.register(AppCollector(current_app.extensions["jobs"], stats()))
    return generate_latest(registry)
