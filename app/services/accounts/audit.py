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
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.keys import IP_HASH, derive_key
from app.models import AuditLog, User

log = logging.getLogger(__name__)


def hash_ip(ip: str) -> str:
    """HMAC-SHA256 with the install's IP-hashing key: stable per install, useless without it."""
    return hmac.new(derive_key(current_app, IP_HASH), ip.encode(), hashlib.sha256).hexdigest()


# Audit events the person is also told about (in-app and by email, never switched off).
SECURITY_EVENTS = {
    "password_changed": "security.password_changed",
    "password_reset": "security.password_changed",
    "email_changed": "security.email_changed",
    "oauth_linked": "security.identity_linked",
    "oauth_unlinked": "security.identity_unlinked",
    "token_created": "security.api_token_created",
}
# What the notice may repeat from the audit details (never an address hash or a secret).
_TOLD = ("provider", "name", "old_email", "new_email")
NEW_DEVICE_DAYS = 90


def record(event: str, user: User | None = None, ip: str | None = None, **details: Any) -> AuditLog:
    """Record `event` for `user`, from client address `ip` (None outside a web request).

    `details` must be JSON-serialisable and must never hold secrets (passwords, tokens).
    Security events also go on the person's event stream (see SECURITY_EVENTS), and a sign-in
    from a device not seen lately does too (`details["device"]`, see `_is_new_device`).
    """
    entry = AuditLog(
        event=event,
        user_id=user.id if user is not None else None,
        ip_hash=hash_ip(ip) if ip else None,
        details=details,
    )
    if user is not None and user.id is not None:
        _tell(event, user, entry)
    db.session.add(entry)
    log.info(
        "audit %s", event, extra={"event": "audit", "audit_event": event, "user_id": entry.user_id}
    )
    return entry


def _tell(event: str, user: User, entry: AuditLog) -> None:
    from app.services.notifications import events

    told = {key: entry.details[key] for key in _TOLD if key in entry.details}
    if event in SECURITY_EVENTS:
        events.emit(user.id, SECURITY_EVENTS[event], **told)
    elif event == "sign_in" and _is_new_device(user, entry):
        events.emit(user.id, "security.new_device_sign_in", device=entry.details.get("device"))


def _is_new_device(user: User, entry: AuditLog) -> bool:
    """A device is the browser family and OS (from the user agent) plus the hashed address: new
    when no sign-in of this person in the last NEW_DEVICE_DAYS had both. A first sign-in ever is
    not news, and neither is one we cannot tell apart (no address or user agent recorded)."""
    device = entry.details.get("device")
    if not device or entry.ip_hash is None:
        return False
    since = datetime.now(UTC) - timedelta(days=NEW_DEVICE_DAYS)
    earlier = list(
        db.session.execute(
            select(AuditLog.ip_hash, AuditLog.details)
            .where(
                AuditLog.user_id == user.id,
                AuditLog.event == "sign_in",
                AuditLog.created_at >= since,
            )
            .order_by(AuditLog.id.desc())
            .limit(500)
        )
    )
    if not earlier:
        return False
    return not any(
        ip_hash == entry.ip_hash and (details or {}).get("device") == device
        for ip_hash, details in earlier
    )
