"""Webhook deliveries against a loopback receiver that checks each signature with the independent
`standardwebhooks` package: an event goes out signed; a 500 is retried with the same webhook-id;
an endpoint failing for 24 hours (a moved clock, no sleeping) is given up on and disabled, its
owner told; a rotated secret signs new deliveries (the old one beside it for a while); the SSRF
guard refuses loopback targets when ALLOW_INSECURE_PLATFORM_URLS is off; redirects are not
followed. Both profiles: a real RQ worker in this process, or the in-process backend.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook, WebhookVerificationError

from app.extensions import db
from app.jobs import enqueue
from app.models import DeliveryStatus, Event, WebhookDelivery, WebhookEndpoint
from app.services.notifications import events
from app.services.webhooks import delivery, endpoints
from tests.clock import Clock


@pytest.fixture
def clock(monkeypatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr(endpoints, "utcnow", lambda: moved.now)
    return moved


@pytest.fixture
def pat(make_user):
    return make_user(email="pat@example.com")


def add_endpoint(user, receiver, types=("release.completed",), path="/hooks/linkarooie") -> int:
    endpoint, secret = endpoints.create(user, receiver.url + path, list(types))
    db.session.commit()
    receiver.secret = secret
    return endpoint.id


def emit(user, type: str = "release.completed", **data) -> int:
    event = events.emit(user.id, type, **(data or {"release_id": 42}))
    db.session.commit()
    return event.id


def deliveries() -> list[WebhookDelivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def sweep(run_jobs) -> None:
    enqueue("send_due_webhooks")
    run_jobs()


def test_an_event_is_delivered_signed_once(app, pat, make_user, clock, run_jobs, webhook_receiver):
    add_endpoint(pat, webhook_receiver, types=("release.completed", "drift.detected"))
    emit(pat, "image.ready", image_id=1)  # not subscribed
    emit(make_user(email="other@example.com"), "release.completed")  # not theirs
    event_id = emit(pat, "release.completed", release_id=42)
    run_jobs()

    [got] = webhook_receiver.received
    assert got.verified, got.error
    assert got.payload["type"] == "release.completed"
    assert got.payload["data"] == {"release_id": 42}
    assert datetime.fromisoformat(got.payload["timestamp"])
    assert got.headers["content-type"] == "application/json"
    assert got.headers["webhook-id"].startswith("msg_")
    assert "Linkarooie" in got.headers["user-agent"]

    [sent] = deliveries()
    assert (sent.event_id, sent.status, sent.attempts) == (event_id, DeliveryStatus.SUCCEEDED, 1)
    assert sent.last_status_code == 204 and sent.last_response_ms is not None
    assert sent.msg_id == got.headers["webhook-id"]

    # The fan-out handing the same event over again sends nothing more.
    events.fan_out(event_id)
    db.session.commit()
    run_jobs()
    assert len(webhook_receiver.received) == 1 and len(deliveries()) == 1


def test_a_500_is_retried_with_the_same_webhook_id(app, pat, clock, run_jobs, webhook_receiver):
    add_endpoint(pat, webhook_receiver)
    webhook_receiver.fail(1)
    emit(pat)
    run_jobs()
    [sent] = deliveries()
    assert sent.status == DeliveryStatus.PENDING and sent.last_status_code == 500
    assert sent.next_attempt_at == clock.now + timedelta(seconds=5)
    assert db.session.get(WebhookEndpoint, sent.endpoint_id).failing_since == clock.now

    sweep(run_jobs)  # not due yet
    assert len(webhook_receiver.received) == 1

    clock.move(seconds=6)
    sweep(run_jobs)
    first, second = webhook_receiver.received
    assert (first.answered, second.answered) == (500, 204)
    assert first.verified and second.verified
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    [sent] = deliveries()
    assert (sent.status, sent.attempts) == (DeliveryStatus.SUCCEEDED, 2)
    assert [a.status_code for a in sent.attempt_log] == [500, 204]
    assert db.session.get(WebhookEndpoint, sent.endpoint_id).failing_since is None


def test_failing_for_24_hours_gives_up_and_disables(app, pat, clock, run_jobs, webhook_receiver):
    endpoint_id = add_endpoint(pat, webhook_receiver)
    webhook_receiver.fail(10_000)
    started = clock.now
    emit(pat)
    run_jobs()
    for _ in range(50):  # each round: to the next try's time, then the sweep
        [sent] = deliveries()
        if sent.status != DeliveryStatus.PENDING:
            break
        clock.now = sent.next_attempt_at + timedelta(seconds=1)
        sweep(run_jobs)

    [sent] = deliveries()
    assert sent.status == DeliveryStatus.GAVE_UP
    assert sent.attempts == len(webhook_receiver.received) > 5
    assert all(r.verified and r.answered == 500 for r in webhook_receiver.received)
    assert len({r.headers["webhook-id"] for r in webhook_receiver.received}) == 1
    tries = [a.attempted_at for a in sent.attempt_log]
    assert tries[-1] - started >= timedelta(hours=24)
    assert tries[-2] - started < timedelta(hours=24)  # nothing much past the window
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    assert not endpoint.enabled and "24 hours" in endpoint.disabled_reason
    told = db.session.scalars(select(Event).where(Event.type == "webhook.disabled")).all()
    assert [(e.user_id, e.data) for e in told] == [
        (pat.id, {"endpoint_id": endpoint_id, "host": "127.0.0.1"})
    ]

    # Disabled: new events are not delivered...
    emit(pat)
    run_jobs()
    assert len(deliveries()) == 1
    # ...until re-enabled, which starts afresh.
    endpoints.enable(endpoint)
    db.session.commit()
    webhook_receiver.fail(0)
    emit(pat)
    run_jobs()
    assert deliveries()[-1].status == DeliveryStatus.SUCCEEDED
    assert webhook_receiver.received[-1].verified


def test_one_success_in_the_window_keeps_the_endpoint(app, pat, clock, run_jobs, webhook_receiver):
    endpoint_id = add_endpoint(pat, webhook_receiver)
    webhook_receiver.fail(1)
    emit(pat)
    run_jobs()
    clock.move(hours=20)
    webhook_receiver.fail(0)
    emit(pat)  # this one goes through: the endpoint works
    run_jobs()
    webhook_receiver.fail(10_000)
    for _ in range(50):
        waiting = [d for d in deliveries() if d.status == DeliveryStatus.PENDING]
        if not waiting:
            break
        clock.now = max(clock.now, waiting[0].next_attempt_at) + timedelta(seconds=1)
        sweep(run_jobs)
    assert [d.status for d in deliveries()] == [DeliveryStatus.GAVE_UP, DeliveryStatus.SUCCEEDED]
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    assert endpoint.enabled and endpoint.failing_since is not None


def test_a_rotated_secret_signs_new_deliveries(app, pat, clock, run_jobs, webhook_receiver):
    endpoint_id = add_endpoint(pat, webhook_receiver)
    old = webhook_receiver.secret
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    new = endpoints.rotate_secret(endpoint)
    db.session.commit()
    assert new != old and new.startswith("whsec_")

    webhook_receiver.secret = new
    emit(pat)
    run_jobs()
    got = webhook_receiver.received[-1]
    assert got.verified
    Webhook(old).verify(got.body, got.headers)  # both sign during the overlap
    assert len(got.headers["webhook-signature"].split(" ")) == 2

    clock.move(hours=25)
    emit(pat)
    run_jobs()
    got = webhook_receiver.received[-1]
    assert got.verified
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(got.body, got.headers)


def test_a_test_event_is_tried_once(app, pat, clock, run_jobs, webhook_receiver):
    endpoint_id = add_endpoint(pat, webhook_receiver)
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    webhook_receiver.fail(1)
    failed = delivery.send_test(endpoint)
    db.session.commit()
    run_jobs()
    clock.move(hours=1)
    sweep(run_jobs)
    assert len(webhook_receiver.received) == 1
    db.session.expire_all()
    assert failed.status == DeliveryStatus.FAILED and failed.last_status_code == 500
    assert db.session.get(WebhookEndpoint, endpoint_id).failing_since is None

    ok = delivery.send_test(endpoint)
    assert delivery.send_test(endpoint) is ok  # one waiting test at a time
    db.session.commit()
    run_jobs()
    got = webhook_receiver.received[-1]
    assert got.verified and got.payload["type"] == "webhook.test"
    db.session.expire_all()
    assert ok.status == DeliveryStatus.SUCCEEDED


def test_loopback_targets_are_refused_without_the_insecure_setting(
    app, pat, clock, run_jobs, webhook_receiver, monkeypatch
):
    port = webhook_receiver.url.rsplit(":", 1)[1]
    endpoint_id = add_endpoint(pat, webhook_receiver)
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    endpoint.url = f"https://localhost:{port}/hooks"  # resolves to loopback
    db.session.commit()

    monkeypatch.setitem(app.config, "ALLOW_INSECURE_PLATFORM_URLS", False)
    for url in ("http://127.0.0.1/hooks", f"https://127.0.0.1:{port}/", "https://localhost/x"):
        with pytest.raises(endpoints.WebhookInvalid) as refused:
            endpoints.create(pat, url, ["release.completed"])
        assert "url" in refused.value.fields
        db.session.rollback()

    emit(pat)
    run_jobs()
    assert webhook_receiver.received == []
    [sent] = deliveries()
    assert sent.status == DeliveryStatus.PENDING  # DNS may change: tried again later
    assert "private or local" in sent.last_error and sent.last_status_code is None


def test_redirects_are_not_followed(app, pat, clock, run_jobs, webhook_receiver):
    from tests.peers.webhook_receiver import WebhookReceiver

    elsewhere = WebhookReceiver()
    elsewhere.start()
    try:
        add_endpoint(pat, webhook_receiver)
        webhook_receiver.redirect_to(elsewhere.url + "/stolen")
        emit(pat)
        run_jobs()
        assert [r.answered for r in webhook_receiver.received] == [302]
        assert elsewhere.received == []
        [sent] = deliveries()
        assert sent.status == DeliveryStatus.PENDING and sent.last_status_code == 302
        assert "Redirects are not followed" in sent.last_error
    finally:
        elsewhere.stop()


def test_the_sweep_drops_log_entries_after_30_days(app, pat, clock, run_jobs, webhook_receiver):
    add_endpoint(pat, webhook_receiver)
    emit(pat)
    run_jobs()
    clock.move(days=29)
    emit(pat)
    run_jobs()
    assert len(deliveries()) == 2
    clock.move(days=2)
    sweep(run_jobs)
    [kept] = deliveries()
    assert kept.created_at == clock.now - timedelta(days=2) and len(kept.attempt_log) == 1


def test_a_name_rebound_to_loopback_after_the_check_is_refused(
    app, pat, clock, run_jobs, webhook_receiver, monkeypatch
):
    """DNS rebinding: the name looks public when checked, then connects to 127.0.0.1. The
    connection's own peer is checked before anything is sent."""
    from app.infra import http

    port = webhook_receiver.url.rsplit(":", 1)[1]
    endpoint_id = add_endpoint(pat, webhook_receiver)
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    endpoint.url = f"https://localhost:{port}/hooks"
    db.session.commit()
    monkeypatch.setitem(app.config, "ALLOW_INSECURE_PLATFORM_URLS", False)
    monkeypatch.setattr(http, "_resolve", lambda host, port: ["93.184.215.14"])

    emit(pat)
    run_jobs()
    assert webhook_receiver.received == []
    [sent] = deliveries()
    assert "private or local" in sent.last_error and sent.last_status_code is None


def test_a_processed_upload_is_told_to_a_webhook_that_asked(
    app, pat, clock, run_jobs, webhook_receiver, mail_sink
):
    from app.services.images import library
    from tests.images import avatar_jpeg

    library.create_upload(pat.id, "avatar", avatar_jpeg(seed=2), "first.jpg")
    db.session.commit()
    run_jobs()  # nobody asked yet: no event at all
    assert db.session.scalar(select(db.func.count()).select_from(Event)) == 0

    add_endpoint(pat, webhook_receiver, types=("image.ready",))
    image, _ = library.create_upload(pat.id, "avatar", avatar_jpeg(seed=3), "second.jpg")
    db.session.commit()
    run_jobs()
    run_jobs()  # the fan-out, then the delivery
    [got] = webhook_receiver.received
    assert got.verified, got.error
    assert got.payload["type"] == "image.ready"
    assert got.payload["data"] == {"image_id": image.id, "kind": "avatar"}
    # For the webhook only: not in the person's list or bell, and not mailed.
    assert events.unread_count(pat.id) == 0 and events.latest(pat.id) == []
    assert mail_sink.to("pat@example.com") == []
