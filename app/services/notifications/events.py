"""The event stream: `emit` writes what happened to a person in the caller's transaction; after
commit a job hands the event to every consumer (email, webhooks), each registered with
`@consumer`. The row itself is the in-app notification.

Types (keep the names: webhook subscribers and email preferences use them):
- release.completed (every step went well) / release.failed (some or all failed: which, why)
- connection.expired / connection.expiring (within 7 days)
- drift.detected, schedule.ran, image.ready
- webhook.disabled (an endpoint failed for 24 hours and deliveries to it stopped)
- export.ready (the person's data export can be downloaded until it expires)
- security.* — password_changed, email_changed, identity_linked, identity_unlinked,
  api_token_created, new_device_sign_in: always told, never switched off
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update

from app.extensions import db
from app.jobs import enqueue_on_commit
from app.models.event import Event

TYPES = (
    "release.completed",
    "release.failed",
    "connection.expired",
    "connection.expiring",
    "drift.detected",
    "schedule.ran",
    "image.ready",
    "webhook.disabled",
    "export.ready",
    "security.password_changed",
    "security.email_changed",
    "security.identity_linked",
    "security.identity_unlinked",
    "security.api_token_created",
    "security.new_device_sign_in",
)
SECURITY = tuple(t for t in TYPES if t.startswith("security."))
# For machines, not the person's list: emitted only when a webhook asked for it, and left out of
# the in-app list, the bell and email.
MACHINE_ONLY = ("image.ready",)

_CONSUMERS: list[Callable[[Event], None]] = []


def consumer(func: Callable[[Event], None]) -> Callable[[Event], None]:
    """Register `func(event)` to be handed every event after commit (from the fan-out job)."""
    _CONSUMERS.append(func)
    return func


def emit(user_id: int, type: str, **data: Any) -> Event:
    """Record that `type` happened to a person (JSON-serialisable data, never secrets). The
    caller commits; consumers run after the commit, from a job."""
    if type not in TYPES:
        raise ValueError(f"unknown event type {type!r}")
    event = Event(user_id=user_id, type=type, data=data, created_at=datetime.now(UTC))
    db.session.add(event)
    db.session.flush()
    enqueue_on_commit("fan_out_event", event.id)
    return event


def fan_out(event_id: int) -> None:
    """Hand one event to every consumer (the job's whole body); each consumer writes its own
    rows (outbox mail, webhook deliveries) idempotently. The caller commits."""
    event = db.session.get(Event, event_id)
    if event is None:
        return
    for handle in _CONSUMERS:
        handle(event)


def unread_count(user_id: int) -> int:
    return db.session.scalar(
        select(func.count()).where(
            Event.user_id == user_id, Event.read_at.is_(None), Event.type.not_in(MACHINE_ONLY)
        )
    )


def latest(user_id: int, limit: int = 50, before: int | None = None) -> list[Event]:
    query = select(Event).where(Event.user_id == user_id, Event.type.not_in(MACHINE_ONLY))
    if before is not None:
        query = query.where(Event.id < before)
    return list(db.session.scalars(query.order_by(Event.id.desc()).limit(limit)))


def mark_read(user_id: int, event_id: int | None = None) -> int:
    """One event (by id) or all of a person's as read; returns how many changed."""
    query = update(Event).where(Event.user_id == user_id, Event.read_at.is_(None))
    if event_id is not None:
        query = query.where(Event.id == event_id)
    return db.session.execute(query.values(read_at=datetime.now(UTC))).rowcount or 0
