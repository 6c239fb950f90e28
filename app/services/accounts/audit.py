"""The audit trail: `record(...)` adds one AuditLog row to the caller's transaction.

Call it from any service or view; the caller commits. The client address is a plain value the
web layer passes in (`ip=`); this module never reads the request. Events in use (keep names
stable, they are queried): sign_in, sign_in_failed, sign_out, sign_up, email_verified,
password_changed, password_reset_requested, password_reset, email_change_requested,
email_changed, token_created, token_revoked, oauth_linked, oauth_link_requested,
oauth_unlinked, account_secured (recovery.py), reauthenticated, platform_connected,
platform_disconnected, platform_expired (platforms/health.py: the token round gave up on it),
admin_granted, admin_revoked (ops/users.py: the event's user is the person whose role changed,
details["by"] the admin who changed it).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from flask import current_app

from app.extensions import db
from app.keys import IP_HASH, derive_key
from app.models import AuditLog, User

log = logging.getLogger(__name__)


def hash_ip(ip: str) -> str:
    """HMAC-SHA256 with the install's IP-hashing key: stable per install, useless without it."""
    return hmac.new(derive_key(current_app, IP_HASH), ip.encode(), hashlib.sha256).hexdigest()


def record(event: str, user: User | None = None, ip: str | None = None, **details: Any) -> AuditLog:
    """Record `event` for `user`, from client address `ip` (None outside a web request).

    `details` must be JSON-serialisable and must never hold secrets (passwords, tokens).
    """
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
