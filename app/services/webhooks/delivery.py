"""Delivering events to webhook endpoints, the Standard Webhooks way.

Each (endpoint, event) is one delivery with one `webhook-id` and one body, sent again unchanged
on every retry; each try is signed afresh (`webhook-timestamp` is the moment of sending). A
failed try is retried after WEBHOOK_RETRY_DELAYS until WEBHOOK_GIVE_UP_AFTER past the first try;
an endpoint whose deliveries have all failed that long is disabled, and its owner told
("webhook.disabled"). Every request goes through the SSRF guard (app/infra/http.py): resolved
to public addresses only, checked again before each try, redirects never followed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import requests
from flask import current_app
from sqlalchemy import delete, or_, select, update

from app.extensions import db
from app.infra.http import PlatformHttp, UnsafeUrl
from app.jobs import enqueue_on_commit
from app.models import DeliveryStatus, Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.services.notifications import events
from app.services.webhooks import endpoints

TEST_TYPE = "webhook.test"
# A try holds its delivery this long (at least, and three request timeouts), so the delayed job
# and the sweep running at once send it once; a worker that dies mid-try frees it afterwards.
LEASE = timedelta(minutes=2)
EXCERPT = 200  # characters of a response body kept for the log
KEEP_LOG = timedelta(days=30)


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` with the secret's key bytes."""
    key = base64.b64decode(secret.removeprefix(endpoints.SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _body(type: str, at: datetime, data: dict) -> str:
    return json.dumps({"type": type, "timestamp": at.isoformat(), "data": data}, sort_keys=True)


def _new_delivery(endpoint: WebhookEndpoint, type: str, body: str, event_id: int | None):
    now = endpoints.utcnow()
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        event_id=event_id,
        msg_id="msg_" + secrets.token_urlsafe(18),
        type=type,
        body=body,
        status=DeliveryStatus.PENDING,
        next_attempt_at=now,
        created_at=now,
    )
    db.session.add(delivery)
    db.session.flush()
    enqueue_on_commit("deliver_webhook", delivery.id)
    return delivery


@events.consumer
def on_event(event: Event) -> None:
    """One delivery per enabled endpoint of the person subscribed to this event's type;
    handing the same event over again adds none."""
    if event.type not in endpoints.EVENT_TYPES:
        return
    subscribed = [
        endpoint
        for endpoint in db.session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.user_id == event.user_id, WebhookEndpoint.enabled.is_(True)
            )
        )
        if event.type in (endpoint.events or [])
    ]
    if not subscribed:
        return
    done = set(
        db.session.scalars(
            select(WebhookDelivery.endpoint_id).where(WebhookDelivery.event_id == event.id)
        )
    )
    body = _body(event.type, event.created_at, dict(event.data or {}))
    for endpoint in subscribed:
        if endpoint.id not in done:
            _new_delivery(endpoint, event.type, body, event.id)


def send_test(endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A `webhook.test` delivery, tried once (disabled endpoints too, to check a fix before
    re-enabling); its outcome does not count towards disabling. While one is still waiting,
    that one is the answer: pressing the button ten times does not send ten requests. The
    caller commits."""
    waiting = db.session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.type == TEST_TYPE,
            WebhookDelivery.status == DeliveryStatus.PENDING,
        )
    )
    if waiting is not None:
        return waiting
    data = {"message": "A test event from Linkarooie.", "endpoint_id": endpoint.id}
    return _new_delivery(endpoint, TEST_TYPE, _body(TEST_TYPE, endpoints.utcnow(), data), None)


def retry_delays() -> list[timedelta]:
    raw = str(current_app.config["WEBHOOK_RETRY_DELAYS"])
    return [timedelta(seconds=float(part)) for part in raw.split(",") if part.strip()] or [
        timedelta(minutes=5)
    ]


def give_up_after() -> timedelta:
    return timedelta(seconds=int(current_app.config["WEBHOOK_GIVE_UP_AFTER"]))


def _lease() -> timedelta:
    return max(LEASE, timedelta(seconds=3 * float(current_app.config["WEBHOOK_TIMEOUT"])))


def _claim(delivery_id: int, now: datetime) -> bool:
    claimed = db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
            or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now),
        )
        .values(next_attempt_at=now + _lease())
    ).rowcount
    db.session.commit()
    return bool(claimed)


def _post(endpoint: WebhookEndpoint, delivery: WebhookDelivery, now: datetime):
    """(status code, response ms, error, excerpt) of one signed POST."""
    # The receiver checks webhook-timestamp against its own clock: the real time of sending.
    timestamp = int(time.time())
    signatures = " ".join(
        sign(key, delivery.msg_id, timestamp, delivery.body)
        for key in endpoints.signing_secrets(endpoint, now)
    )
    headers = {
        "Content-Type": "application/json",
        "webhook-id": delivery.msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }
    http = PlatformHttp(timeout=float(current_app.config["WEBHOOK_TIMEOUT"]))
    started = time.perf_counter()
    try:
        response = http.post(
            endpoint.url, data=delivery.body.encode(), headers=headers, stream=True
        )
        try:
            # Only the start of the body is read: a receiver answering gigabytes costs nothing.
            chunk = next(response.iter_content(EXCERPT), b"")
        except requests.RequestException:
            chunk = b""
        finally:
            response.close()
        ms = round((time.perf_counter() - started) * 1000)
        excerpt = chunk.decode("utf-8", "replace")[:EXCERPT] or None
        error = None
        if 300 <= response.status_code < 400:
            error = "Redirects are not followed: give the final address."
        elif not 200 <= response.status_code < 300:
            error = f"The endpoint answered {response.status_code}."
        return response.status_code, ms, error, excerpt
    except UnsafeUrl as exc:
        return None, None, exc.message, None
    except requests.Timeout:
        return None, round((time.perf_counter() - started) * 1000), "Timed out.", None
    except requests.RequestException as exc:
        reason = type(exc).__name__
        return (
            None,
            round((time.perf_counter() - started) * 1000),
            f"Could not connect ({reason}).",
            None,
        )
    finally:
        http.close()


def attempt(delivery_id: int, now: datetime | None = None) -> str | None:
    """Try one delivery if it is due; its status afterwards, or None when not ours to try."""
    now = now or endpoints.utcnow()
    if not _claim(delivery_id, now):
        return None
    delivery = db.session.get(WebhookDelivery, delivery_id)
    endpoint = delivery.endpoint
    is_test = delivery.event_id is None and delivery.type == TEST_TYPE
    if not endpoint.enabled and not is_test:
        _finish(delivery, DeliveryStatus.GAVE_UP, now, "The webhook is disabled.")
        db.session.commit()
        return delivery.status.value

    status_code, ms, error, excerpt = _post(endpoint, delivery, now)
    delivery.attempts += 1
    delivery.first_attempt_at = delivery.first_attempt_at or now
    delivery.last_status_code, delivery.last_response_ms, delivery.last_error = (
        status_code,
        ms,
        error,
    )
    db.session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            number=delivery.attempts,
            attempted_at=now,
            status_code=status_code,
            response_ms=ms,
            error=error,
            response_excerpt=excerpt,
        )
    )
    if error is None:
        _finish(delivery, DeliveryStatus.SUCCEEDED, now)
        if not is_test:
            endpoint.failing_since = None
    elif is_test:
        _finish(delivery, DeliveryStatus.FAILED, now)
    else:
        _failed(endpoint, delivery, now)
    db.session.commit()
    return delivery.status.value


def _finish(
    delivery: WebhookDelivery, status: DeliveryStatus, now: datetime, error: str | None = None
) -> None:
    delivery.status = status
    delivery.finished_at = now
    delivery.next_attempt_at = None
    if error:
        delivery.last_error = error


def _failed(endpoint: WebhookEndpoint, delivery: WebhookDelivery, now: datetime) -> None:
    window = give_up_after()
    deadline = delivery.first_attempt_at + window
    if now >= deadline:
        _finish(delivery, DeliveryStatus.GAVE_UP, now)
    else:
        delays = retry_delays()
        delay = delays[min(delivery.attempts - 1, len(delays) - 1)]
        # The last try lands on the deadline itself, so a dead endpoint is seen failing for the
        # whole window (and disabled) rather than given up on a few hours short of it.
        delivery.next_attempt_at = min(now + delay, deadline)
        enqueue_on_commit("deliver_webhook", delivery.id, delay=delivery.next_attempt_at - now)
    endpoint.failing_since = endpoint.failing_since or now
    if endpoint.enabled and now - endpoint.failing_since >= window:
        disable(endpoint, now)


def disable(endpoint: WebhookEndpoint, now: datetime) -> None:
    hours = round(give_up_after().total_seconds() / 3600)
    endpoint.enabled = False
    endpoint.disabled_reason = (
        f"Every delivery failed for {hours} hours (since "
        f"{endpoint.failing_since:%d %b %Y %H:%M} UTC)."
    )
    # What was still waiting would only fail too; re-enabling starts afresh with new events.
    for waiting in db.session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.event_id.is_not(None),
        )
    ):
        _finish(
            waiting, DeliveryStatus.GAVE_UP, now, waiting.last_error or "The webhook was disabled."
        )
    # The host only: people put tokens in webhook URLs' paths and queries.
    host = urlsplit(endpoint.url).hostname
    events.emit(endpoint.user_id, "webhook.disabled", endpoint_id=endpoint.id, host=host)


def due(now: datetime | None = None) -> list[int]:
    """Deliveries whose next try is due: what the sweep sends (lost or late delayed jobs)."""
    now = now or endpoints.utcnow()
    return list(
        db.session.scalars(
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(500)
        )
    )


def prune(now: datetime | None = None) -> int:
    """Drop finished deliveries older than KEEP_LOG (the log is for recent trouble)."""
    now = now or endpoints.utcnow()
    old = select(WebhookDelivery.id).where(
        WebhookDelivery.status != DeliveryStatus.PENDING,
        WebhookDelivery.created_at < now - KEEP_LOG,
    )
    # Attempts first: SQLite (the embedded default) does not enforce ON DELETE CASCADE.
    db.session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(old)))
    return (
        db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(old))).rowcount or 0
    )


def recent(endpoint: WebhookEndpoint, limit: int = 20) -> list[WebhookDelivery]:
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint.id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )
