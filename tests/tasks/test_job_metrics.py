"""Job durations for /metrics: every run adds to an aggregate that outlives the process it ran in
(RQ's work horse exits after each job), and writing it can never fail the job."""

from __future__ import annotations

import json
import logging

import pytest

from app.jobs import RQBackend, enqueue
from app.jobs.stats import JOB_DURATION, stats
from tests.metrics_support import fail_on_purpose, take_a_moment


def _series(app) -> dict[tuple[str, str], dict[str, float]]:
    return {
        (labels["job"], labels["outcome"]): fields for labels, fields in stats().read(JOB_DURATION)
    }


def test_each_run_lands_in_its_bucket_with_sum_and_count(app, run_jobs):
    before = _series(app)  # the embedded default's store lives as long as the process
    enqueue(take_a_moment, 0.06)
    enqueue(take_a_moment, 0.0)
    enqueue(fail_on_purpose, "boom")
    assert run_jobs() == 3
    after = _series(app)

    def added(job: str, outcome: str) -> dict[str, float]:
        old = before.get((job, outcome), {})
        fields = after.get((job, outcome), {})
        return {k: v - old.get(k, 0) for k, v in fields.items() if v != old.get(k, 0)}

    ok = added("take_a_moment", "succeeded")
    # each run in the smallest bucket holding it
    assert {k: v for k, v in ok.items() if k != "sum"} == {"le:0.01": 1, "le:0.1": 1, "count": 2}
    assert 0.06 <= ok["sum"] < 1
    failed = added("fail_on_purpose", "failed")
    assert failed["count"] == 1 and sum(v for k, v in failed.items() if k.startswith("le:")) == 1
    assert added("fail_on_purpose", "succeeded") == {}


@pytest.mark.services
def test_runs_in_forked_work_horses_are_all_counted(app, redis_client, queue_prefix):
    """A real RQ worker forks a work horse per job: what each one recorded is in Redis after
    the horse is gone, in one hash per (job, outcome) under the deployment's prefix."""
    from worker import AppWorker

    backend = app.extensions["jobs"]
    for seconds in (0.0, 0.01, 0.02):
        enqueue(take_a_moment, seconds)
    enqueue(fail_on_purpose, "boom")
    worker = AppWorker(
        [backend.queue(name) for name in app.config["RQ_QUEUES"]], connection=backend.redis
    )
    worker.work(burst=True)

    key = f"{queue_prefix}stats:{JOB_DURATION}:" + json.dumps(
        {"job": "take_a_moment", "outcome": "succeeded"}, sort_keys=True, separators=(",", ":")
    )
    stored = {k.decode(): float(v) for k, v in redis_client.hgetall(key).items()}
    assert stored["count"] == 3 and stored["sum"] >= 0.03
    assert _series(app)[("fail_on_purpose", "failed")]["count"] == 1


@pytest.mark.services
def test_a_job_runs_and_fails_as_before_when_its_metric_cannot_be_written(app, caplog):
    """Redis refusing connections while the duration is recorded: logged, never the job's
    problem (a succeeded job returns its result, a failed one raises its own error)."""
    working = app.extensions["jobs"]
    app.extensions["jobs"] = RQBackend("redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        with caplog.at_level(logging.WARNING, logger="app.jobs.stats"):
            assert take_a_moment(0.0) == 0.0
            with pytest.raises(RuntimeError, match="its own error"):
                fail_on_purpose("its own error")
    finally:
        app.extensions["jobs"] = working
    warnings = [r for r in caplog.records if r.name == "app.jobs.stats"]
    assert [r.getMessage() for r in warnings] == [
        "could not record the duration of job take_a_moment",
        "could not record the duration of job fail_on_purpose",
    ]
