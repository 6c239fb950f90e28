"""GET /metrics: who may read it, and that what an operator graphs is there and true (parsed with
prometheus-client's own text parser)."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from app.extensions import db
from app.jobs import enqueue
from app.models import TaskStatus
from app.services.sync import releases
from tests.conftest import queued_jobs
from tests.images import add_user
from tests.metrics_support import Scrape, fail_on_purpose, take_a_moment
from tests.sync_rows import make_account, make_release
from tests.sync_support import connect_mastodon, ready_images, settle

TOKEN = "prometheus-scrape-token-0123456789"


@pytest.fixture
def token(app, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", TOKEN)
    return TOKEN


@pytest.fixture
def scrape(app, token):
    """Read /metrics as Prometheus does: a fresh client with only the bearer token."""

    def read() -> Scrape:
        response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert response.content_type.startswith("text/plain; version=0.0.4")
        return Scrape(response.get_data(as_text=True))

    return read


# Who may read it


def test_only_the_token_or_an_admin_reads_metrics_everyone_else_gets_404(
    client, token, make_user, login
):
    def status(**headers: str) -> int:
        return client.get("/metrics", headers=headers).status_code

    assert status() == 404
    assert status(Authorization="Bearer wrong-token") == 404
    assert status(Authorization=f"Bearer {TOKEN}x") == 404
    assert status(Authorization=f"Basic {TOKEN}") == 404
    assert status(Authorization=f"Bearer {TOKEN}") == 200

    login(make_user(email="pat@example.com"))
    assert status() == 404
    assert status(Authorization=f"Bearer {TOKEN}") == 200
    client.post("/sign-out")

    login(make_user(email="root@example.com", admin=True))
    answer = client.get("/metrics")
    assert answer.status_code == 200 and "linkarooie_http_requests_total" in answer.text
    # A token that is sent is what counts: a wrong one is refused even in an admin's browser.
    assert status(Authorization="Bearer wrong-token") == 404


def test_without_a_configured_token_no_bearer_gets_in(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", None)
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer None"}).status_code == 404


# What it shows


def test_http_requests_are_counted_by_endpoint_and_status_with_latency(client, scrape):
    before = scrape()
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/no/such/page-4711").status_code == 404
    assert client.post("/healthz").status_code == 405
    after = scrape()

    def added(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    requests = "linkarooie_http_requests_total"
    assert added(requests, endpoint="health.healthz", method="GET", status="200") == 3
    assert added(requests, endpoint="unknown", method="GET", status="404") == 1
    assert added(requests, endpoint="unknown", method="POST", status="405") == 1
    assert "page-4711" not in after.text  # endpoints, never raw paths

    latency = "linkarooie_http_request_duration_seconds"
    assert after.families[latency].type == "histogram"
    labels = {"endpoint": "health.healthz", "method": "GET"}
    assert added(f"{latency}_count", **labels) == 3
    assert added(f"{latency}_sum", **labels) > 0
    buckets = after.buckets(latency, **labels)
    assert len(buckets) > 5 and buckets[-1][0] == float("inf")
    assert buckets[-1][1] == after.value(f"{latency}_count", **labels)
    counts = [count for _, count in buckets]
    assert counts == sorted(counts)  # cumulative


def test_an_unchanged_status_poll_answered_before_flask_is_counted(app, client, pat, scrape):
    account = make_account(pat)
    release = make_release(pat, account, statuses={"avatar": TaskStatus.QUEUED})
    url = f"/sync/{release.id}/status"
    etag = client.get(url).headers["ETag"]
    before = scrape()

    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    db.session.remove()
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = client.get(url, headers={"If-None-Match": etag})
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert response.status_code == 304 and statements == []  # the fast path, not the view

    labels = {"endpoint": "sync.status", "method": "GET", "status": "304"}
    after = scrape()
    added = after.value("linkarooie_http_requests_total", **labels) - before.value(
        "linkarooie_http_requests_total", **labels
    )
    assert added == 1
    latency = "linkarooie_http_request_duration_seconds_count"
    assert after.value(latency, endpoint="sync.status", method="GET") > before.value(
        latency, endpoint="sync.status", method="GET"
    )


def test_queue_depths_match_the_jobs_waiting(app, scrape):
    enqueue("process_image", 990001)
    enqueue("process_image", 990002)
    enqueue("run_sync_task", 990003)
    metrics = scrape()
    family = metrics.families["linkarooie_queue_depth"]
    assert family.type == "gauge"
    shown = {s.labels["queue"]: s.value for s in family.samples}
    assert shown == {q: queued_jobs(app, q) for q in ("images", "sync", "default")}
    assert shown["images"] == 2 and shown["sync"] == 1


def test_job_durations_by_job_and_outcome(app, scrape, run_jobs):
    before = scrape()
    enqueue(take_a_moment, 0.3)
    enqueue(fail_on_purpose, "a failure the operator should see")
    assert run_jobs() == 2
    after = scrape()

    name = "linkarooie_job_duration_seconds"
    assert after.families[name].type == "histogram"
    ok = {"job": "take_a_moment", "outcome": "succeeded"}
    failed = {"job": "fail_on_purpose", "outcome": "failed"}
    for labels in (ok, failed):
        assert after.value(f"{name}_count", **labels) - before.value(f"{name}_count", **labels) == 1
    assert after.value(f"{name}_count", job="take_a_moment", outcome="failed") == 0
    took = after.value(f"{name}_sum", **ok) - before.value(f"{name}_sum", **ok)
    assert 0.3 <= took < 5
    gained = {
        bound: count - dict(before.buckets(name, **ok)).get(bound, 0)
        for bound, count in after.buckets(name, **ok)
    }
    assert gained[0.25] == 0 and gained[0.5] == 1 and gained[float("inf")] == 1


def test_pushes_by_platform_and_outcome_after_a_real_sync(app, scrape, fake_mastodon, run_jobs):
    person = add_user("pushes@example.com")
    connect_mastodon(person, fake_mastodon)
    ready_images(person, run_jobs)
    before = scrape()
    fake_mastodon.fail_next(429, reset_in=0.5, times=1)  # the instance asks us to slow down once
    release = releases.start(person)
    db.session.commit()
    assert settle(run_jobs, release.id).status == "succeeded"
    again = releases.start(person)  # the same pictures: nothing to upload
    db.session.commit()
    assert settle(run_jobs, again.id).status == "succeeded"
    after = scrape()

    name = "linkarooie_sync_pushes_total"
    assert after.families["linkarooie_sync_pushes"].type == "counter"

    def added(outcome: str) -> float:
        labels = {"platform": "mastodon", "outcome": outcome}
        return after.value(name, **labels) - before.value(name, **labels)

    assert added("succeeded") == 2  # avatar and header
    assert added("rate_limited") == 1
    assert added("skipped") == 2
    assert added("failed") == 0


def test_every_source_was_read(scrape):
    metrics = scrape()
    up = {
        s.labels["source"]: s.value
        for s in metrics.families["linkarooie_metrics_source_up"].samples
    }
    assert up == {"queues": 1, "jobs": 1, "pushes": 1}
