"""A person's webhook endpoints: adding one (its URL through the SSRF guard, its event types),
the signing secret (Standard Webhooks `whsec_…`, shown once, rotatable), removing, re-enabling.
Delivering is delivery.py."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import delete as sa_delete
from sqlalchemy import func, select

from app.extensions import db
from app.infra.http import UnsafeUrl, check_url
from app.models import User, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.services.exceptions import DomainError

# The events a person can subscribe to, in the order the page lists them.
EVENT_TYPES = (
    "release.completed",
    "release.failed",
    "connection.expired",
    "image.ready",
    "drift.detected",
)
EVENT_LABELS = {
    "release.completed": "A sync went out everywhere",
    "release.failed": "A sync failed on some or all accounts",
    "connection.expired": "A connected account needs reconnecting",
    "image.ready": "An uploaded image is ready",
    "drift.detected": "An account shows another picture than the one sent",
}
MAX_ENDPOINTS = 10
MAX_URL_LENGTH = 2000
SECRET_PREFIX = "whsec_"
# After "Rotate secret" the old secret keeps signing (beside the new one) this long.
ROTATION_OVERLAP = timedelta(hours=24)


def utcnow() -> datetime:
    """The one clock the webhook code reads (tests move it)."""
    return datetime.now(UTC)


class WebhookInvalid(DomainError):
    """`fields` maps each refused field (url, events) to what is wrong with it."""

    status = 422
    code = "invalid_webhook"

    def __init__(self, fields: dict[str, str]):
        super().__init__("The webhook could not be saved: " + " ".join(fields.values()))
        self.fields = fields


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_webhook_url(raw: Any) -> str:
    """The URL as it will be called, or UnsafeUrl: https (unless ALLOW_INSECURE_PLATFORM_URLS),
    no credentials, and a host that resolves only to public addresses."""
    if not isinstance(raw, str) or not raw.strip():
        raise UnsafeUrl("Enter the https:// address that should receive the events.")
    raw = raw.strip()
    if len(raw) > MAX_URL_LENGTH or any(c.isspace() or ord(c) < 32 for c in raw):
        raise UnsafeUrl("That address is not a valid URL.")
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise UnsafeUrl("That address is not a valid URL.") from None
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise UnsafeUrl("The address must start with https://.")
    if parts.username or parts.password:
        raise UnsafeUrl("Leave the user name and password out of the address.")
    url = urlunsplit((parts.scheme.lower(), parts.netloc, parts.path or "/", parts.query, ""))
    check_url(url)
    return url


def _checked(url: Any, events: Any) -> tuple[str, list[str]]:
    fields: dict[str, str] = {}
    try:
        url = check_webhook_url(url)
    except UnsafeUrl as exc:
        fields["url"] = exc.message
    if (
        not isinstance(events, list)
        or not events
        or not all(isinstance(e, str) and e in EVENT_TYPES for e in events)
    ):
        fields["events"] = "Choose one or more of: " + ", ".join(EVENT_TYPES) + "."
    if fields:
        raise WebhookInvalid(fields)
    return url, [e for e in EVENT_TYPES if e in events]


def create(user: User, url: Any, events: Any) -> tuple[WebhookEndpoint, str]:
    """A new enabled endpoint and its secret (the only time it is shown). The caller commits."""
    url, events = _checked(url, events)
    count = db.session.scalar(
        select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.user_id == user.id)
    )
    if count >= MAX_ENDPOINTS:
        raise WebhookInvalid({"url": f"You can have at most {MAX_ENDPOINTS} webhooks."})
    secret = new_secret()
    endpoint = WebhookEndpoint(user_id=user.id, url=url, events=events, secret=secret)
    db.session.add(endpoint)
    db.session.flush()
    return endpoint, secret


def listing(user: User) -> list[WebhookEndpoint]:
    return list(
        db.session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.user_id == user.id)
            .order_by(WebhookEndpoint.id)
        )
    )


def subscribed(user_id: int, event_type: str) -> bool:
    """Whether one of the person's enabled endpoints asked for `event_type`."""
    found = db.session.scalars(
        select(WebhookEndpoint.events).where(
            WebhookEndpoint.user_id == user_id, WebhookEndpoint.enabled.is_(True)
        )
    )
    return any(event_type in (types or []) for types in found)


def rotate_secret(endpoint: WebhookEndpoint, now: datetime | None = None) -> str:
    """A new secret (shown once); the old one signs beside it for ROTATION_OVERLAP."""
    now = now or utcnow()
    secret = new_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = now + ROTATION_OVERLAP
    endpoint.secret = secret
    return secret


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    keys = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_until
        and now < endpoint.previous_secret_until
    ):
        keys.append(endpoint.previous_secret)
    return keys


def enable(endpoint: WebhookEndpoint) -> None:
    """Re-enable after a disable: a fresh start, the 24 hours count from the next failure."""
    endpoint.enabled = True
    endpoint.disabled_reason = None
    endpoint.failing_since = None


def delete(endpoint: WebhookEndpoint) -> None:
    """The endpoint and its log. Spelled out rather than left to ON DELETE CASCADE, which the
    embedded default's SQLite does not enforce."""
    sent = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    db.session.execute(sa_delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(sent)))
    db.session.execute(sa_delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    db.session.delete(endpoint)


def as_json(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """What the API shows of an endpoint: never its secret."""
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": list(endpoint.events or []),
        "enabled": endpoint.enabled,
        "created_at": endpoint.created_at.isoformat() if endpoint.created_at else None,
    }
