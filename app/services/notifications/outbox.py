"""Sending outbox rows: render, hand to SMTP, record the outcome; retry with backoff.

Callers: the send_outbox job (one row) and the reconciler (every row that is due). Both commit.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app, render_template
from sqlalchemy import select

from app.extensions import db
from app.infra.mail import build_message, deliver
from app.jobs import enqueue, enqueue_on_commit
from app.models import OutboxMessage
from app.models.outbox import OutboxStatus
from app.services.notifications.messages import KINDS, utcnow

log = logging.getLogger(__name__)


def backoff(attempts: int) -> timedelta:
    """Wait before attempt `attempts + 1`: doubling from OUTBOX_RETRY_BASE, capped at an hour."""
    base = current_app.config["OUTBOX_RETRY_BASE"]
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 3600))


def send(message_id: int, *, now: datetime | None = None) -> OutboxStatus | None:
    """Send one row if it is due; its status afterwards (None: no such row). Commits."""
    now = now or utcnow()
    # Locked while sending, so a second copy of the job waits and then finds it sent.
    message = db.session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None:
        return None
    due = message.next_attempt_at is not None and message.next_attempt_at <= now
    if message.status is not OutboxStatus.PENDING or not due:
        db.session.rollback()
        return message.status
    message.attempts += 1
    try:
        user = message.user  # None only where the database does not cascade (SQLite by default)
        context = KINDS[message.kind].compose(message, user) if user is not None else None
        if context is None:
            message.status, message.next_attempt_at = OutboxStatus.SKIPPED, None
            log.info("mail %s (%s) no longer needed", message.id, message.kind)
        else:
            deliver(_render(message, context))
            message.status, message.sent_at, message.next_attempt_at = OutboxStatus.SENT, now, None
            message.last_error = None
    except Exception as exc:
        retry_in = _failed(message, exc, now)
        db.session.commit()
        if retry_in is not None:
            _enqueue_retry(message.id, retry_in)
        return message.status
    status = message.status
    db.session.commit()
    return status


def _render(message: OutboxMessage, context: dict) -> object:
    kind = KINDS[message.kind]
    context = {"user": message.user, **context}
    text = render_template(f"email/{kind.template}.txt", **context)
    html = render_template(f"email/{kind.template}.html", **context)
    return build_message(
        message.recipient, context["subject"], text, html, headers=context.get("headers")
    )


def send_unkept(recipient: str, template: str, context: dict) -> None:
    """Render and send a mail now, with no outbox row: for a person whose rows are gone (the
    deletion notice), where keeping the address to retry is what must not happen. Raises if
    the mail server refuses."""
    text = render_template(f"email/{template}.txt", **context)
    html = render_template(f"email/{template}.html", **context)
    deliver(build_message(recipient, context["subject"], text, html))


def _failed(message: OutboxMessage, exc: Exception, now: datetime) -> timedelta | None:
    message.last_error = f"{type(exc).__name__}: {exc}"[:1000]
    if message.attempts >= current_app.config["OUTBOX_MAX_ATTEMPTS"]:
        message.status, message.next_attempt_at = OutboxStatus.FAILED, None
        log.error(
            "mail %s (%s) failed %d times; giving up",
            message.id,
            message.kind,
            message.attempts,
            extra={"event": "mail_failed", "outbox_id": message.id},
        )
        return None
    retry_in = backoff(message.attempts)
    message.next_attempt_at = now + retry_in
    log.warning(
        "mail %s (%s) attempt %d failed (%s); retrying in %ss",
        message.id,
        message.kind,
        message.attempts,
        message.last_error,
        int(retry_in.total_seconds()),
        extra={"event": "mail_retry", "outbox_id": message.id},
    )
    return retry_in


def _enqueue_retry(message_id: int, delay: timedelta) -> None:
    try:
        enqueue("send_outbox", message_id, delay=delay)
    except Exception:  # the row says when it is due; the reconciler queues it then
        log.warning("could not schedule the retry of mail %s", message_id, exc_info=True)


def requeue_due(now: datetime | None = None) -> list[int]:
    """Queue every pending row that is due (after commit); a copy already waiting is kept."""
    ids = list(
        db.session.scalars(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.next_attempt_at <= (now or utcnow()),
            )
            .order_by(OutboxMessage.id)
        )
    )
    for message_id in ids:
        enqueue_on_commit("send_outbox", message_id)
    return ids
