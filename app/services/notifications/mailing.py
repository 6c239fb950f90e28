"""Events by email: the consumer that puts an event in an outbox mail, and what that mail says.

- Security events are mailed at once, one mail each, and cannot be turned off.
- A release is mailed at once: one mail per release (its event), never one per step.
- Other types gather for NOTIFY_DIGEST_SECONDS: the first event of a type opens a mail that is
  due after the window, and events of that type arriving meanwhile join it. So a burst of ten
  "drift detected" events is one short digest. Each mail holds one type, so its unsubscribe link
  turns off exactly what it is about.

Nothing is lost or mailed twice: an event joins a mail in the same transaction that records it
(`Event.outbox_id`, set once), and only a mail not yet being sent is joined (the send job holds
the row locked while it sends).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import Event, OutboxMessage, User
from app.models.outbox import OutboxStatus
from app.services.notifications import preferences
from app.services.notifications.describe import describe
from app.services.notifications.events import SECURITY, consumer
from app.services.notifications.messages import utcnow

log = logging.getLogger(__name__)

KIND = "notify"
IMMEDIATE = ("release.completed", "release.failed", "export.ready")


def _window(type: str) -> timedelta:
    if type in SECURITY or type in IMMEDIATE:
        return timedelta(0)
    return timedelta(seconds=current_app.config["NOTIFY_DIGEST_SECONDS"])


def _gathering(user_id: int, type: str) -> OutboxMessage | None:
    """A mail of this type still waiting for its window to close, locked against the sender."""
    rows = db.session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.user_id == user_id,
            OutboxMessage.kind == KIND,
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.attempts == 0,
            OutboxMessage.next_attempt_at > utcnow(),
        )
        .order_by(OutboxMessage.id)
        .with_for_update()
    )
    return next((row for row in rows if row.payload.get("type") == type), None)


@consumer
def mail_event(event: Event) -> None:
    from app.services.notifications.mail import queue_mail

    # Locked, so two copies of the fan-out job for one event cannot both mail it.
    mailed = db.session.scalar(
        select(Event.outbox_id).where(Event.id == event.id).with_for_update()
    )
    if mailed is not None:  # a second run of the fan-out: already in a mail
        return
    user = db.session.get(User, event.user_id)
    if event.type in preferences.UNTOLD or user is None:
        return
    if not preferences.wants_email(user.id, event.type):
        return
    window = _window(event.type)
    message = _gathering(user.id, event.type) if window else None
    if message is None:
        message = queue_mail(KIND, user, delay=window, type=event.type, site_url=_site())
    event.outbox_id = message.id


def _site() -> str | None:
    # The fan-out runs in a job, with no request to take the site's address from: PUBLIC_URL,
    # else (the embedded default on someone's own machine) the loopback address it was last
    # opened at. Without either, a notice is mailed without links.
    from app.services.notifications.mail import local_site

    return current_app.config.get("PUBLIC_URL") or local_site()


def compose(message: OutboxMessage, user: User) -> dict[str, Any] | None:
    type = message.payload.get("type", "")
    if not preferences.wants_email(user.id, type):
        return None  # turned off after the mail was queued
    events = list(
        db.session.scalars(select(Event).where(Event.outbox_id == message.id).order_by(Event.id))
    )
    if not events:
        return None
    base = message.payload.get("site_url")
    items = [_item(describe(event), base) for event in events]
    context: dict[str, Any] = {
        "items": items,
        "subject": _subject(type, items),
        "security": type in SECURITY,
        "unsubscribe": None,
        "settings_link": _url(base, "notifications.settings"),
        "type_label": preferences.label(type),
    }
    if type not in SECURITY and base:
        link = _url(
            base, "notifications.unsubscribe", token=preferences.unsubscribe_token(user.id, type)
        )
        context["unsubscribe"] = link
        context["headers"] = {
            "List-Unsubscribe": f"<{link}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
    return context


def _url(base: str | None, endpoint: str, **values: Any) -> str | None:
    from app.services.notifications.mail import external_url

    if not base or not endpoint:
        return None
    return external_url(endpoint, _base=base, **values)


def _item(described, base: str | None) -> dict[str, Any]:
    return {
        "sentence": described.sentence,
        "details": described.details,
        "link": _url(base, described.endpoint or "", **described.values),
    }


def _subject(type: str, items: list[dict[str, Any]]) -> str:
    if len(items) > 1:
        return f"{len(items)} updates: {preferences.label(type).lower()}"
    if type == "release.completed":
        return "Your release finished"
    if type == "release.failed":
        return "Your release finished with problems"
    if type == "export.ready":
        return "Your Linkarooie data export is ready"
    if type in SECURITY:
        return "Security notice: " + items[0]["sentence"].split(".")[0]
    return items[0]["sentence"].rstrip(".")
