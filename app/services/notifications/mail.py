"""Outgoing mail: a service records what to send (an outbox row, in the caller's transaction);
the send_outbox job renders it from templates/email/ and signs its links at send time.

So a mail is never lost to a Redis outage at commit, and no signed link sits in Redis or in the
database waiting to be read.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, has_request_context, url_for

from app.extensions import db
from app.jobs import enqueue_on_commit
from app.models import OutboxMessage, User
from app.models.outbox import OutboxStatus
from app.services.notifications.messages import KINDS, utcnow

log = logging.getLogger(__name__)

# The site a request came in on (set by the web layer for each request). Links in mail use it
# only when PUBLIC_URL is unset, i.e. the embedded default on someone's own machine.
request_site_url: ContextVar[str | None] = ContextVar("request_site_url", default=None)
# The embedded default runs its jobs in the web process and has no PUBLIC_URL: the address the
# person last opened it at stands in for the notices its jobs mail. Loopback addresses only, so
# a Host header sent from elsewhere never chooses where other people's links point.
_local_site: str | None = None
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def remember_local_site(url_root: str) -> None:
    global _local_site
    if (urlsplit(url_root).hostname or "") in LOOPBACK_HOSTS:
        _local_site = url_root.rstrip("/")


def local_site() -> str | None:
    return _local_site


def external_url(endpoint: str, *, _base: str | None = None, **values: Any) -> str:
    """An absolute link. PUBLIC_URL wins over the request's Host header, which a client
    controls (a forged Host would otherwise put an attacker's domain in a reset link); `_base`
    is the site address a queued mail was asked for from, used only without PUBLIC_URL."""
    base = current_app.config.get("PUBLIC_URL") or _base
    if has_request_context():
        return (
            base.rstrip("/") + url_for(endpoint, **values)
            if base
            else url_for(endpoint, _external=True, **values)
        )
    if not base:  # a job or command has no Host header to fall back on
        raise RuntimeError("set PUBLIC_URL to send mail with links outside a web request")
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return base.rstrip("/") + path


def site_url() -> str:
    """Where links in a mail asked for now should point: PUBLIC_URL, else this request's site."""
    if base := current_app.config.get("PUBLIC_URL"):
        return base
    if base := request_site_url.get():
        return base
    raise RuntimeError("set PUBLIC_URL to send mail with links outside a web request")


def queue_mail(
    kind: str,
    user: User,
    *,
    to: str | None = None,
    delay: timedelta | None = None,
    **payload: Any,
) -> OutboxMessage:
    """Record a `kind` mail about `user` (to their address unless `to`); sent after commit, or
    `delay` later.

    `payload` is stored as is: ids and facts the message needs, never a token or link.
    """
    if kind not in KINDS:
        raise LookupError(f"no mail kind {kind!r} (see app/services/notifications/messages.py)")
    if KINDS[kind].has_links:
        payload = {**payload, "site_url": site_url()}
    message = OutboxMessage(
        kind=kind,
        user=user,
        recipient=to or user.email,
        payload=payload,
        status=OutboxStatus.PENDING,
        attempts=0,
        next_attempt_at=utcnow() + (delay or timedelta(0)),
    )
    db.session.add(message)
    db.session.flush()  # the id the job carries
    enqueue_on_commit("send_outbox", message.id, delay=delay or None)
    return message
