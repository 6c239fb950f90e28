"""The audit trail: `record(...)` adds one AuditLog row to the caller's transaction.

Call it from any service or view; the caller commits. Events in use (keep names stable, they are
queried): sign_in, sign_in_failed, sign_out, sign_up, email_verified, password_changed,
password_reset, email_change_requested, email_changed, token_created, token_revoked,
oauth_linked, oauth_unlinked (the last two recorded by the OAuth blueprint).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from flask import current_app, has_request_context, request

from app.extensions import db
from app.models import AuditLog, User

log = logging.getLogger(__name__)


def hash_ip(ip: str) -> str:
    """HMAC-SHA256 keyed with SECRET_KEY: stable per install, useless without the key."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, ip.encode(), hashlib.sha256).hexdigest()


def record(event: str, user: User | None = None, ip: str | None = None, **details: Any) -> AuditLog:
    """Record `event` for `user`. `ip` defaults to the current request's address, if any.

    `details` must be JSON-serialisable and must never hold secrets (passwords, tokens).
    """
    if ip is None and has_request_context():
        ip = request.remote_addr
    entry = AuditLog(
        event=event,
        user_id=user.id if user is not None else None,
        ip_hash=hash_ip(ip) if ip else None,
        details=details,
    )
    db.session.add(entry)
    log.info(
        "audit %s", event, extra={"event": "audit", "audit_event": event, "user_id": entry.user_id}
    )
    return entry
