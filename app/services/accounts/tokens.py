"""Signed, expiring, single-use links for emails (verify, reset, change email).

No table: a link carries a fingerprint of the account state that using it changes (email,
verification time, password hash, session version). Once used, that state differs and the link
reads as used; any newer password or email change also retires older links.
Pass `now` to make and read tokens under a moved clock (tests, replays).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from app.extensions import db
from app.keys import EMAIL_LINKS, verification_keys
from app.models import User
from app.services.exceptions import DomainError

VERIFY = "verify"
RESET = "reset"
EMAIL_CHANGE = "email_change"
LIFETIMES = {
    VERIFY: timedelta(hours=24),
    RESET: timedelta(hours=1),
    EMAIL_CHANGE: timedelta(hours=24),
}
CLOCK_SKEW = timedelta(minutes=5)  # several web processes, several clocks


class InvalidLink(DomainError):
    def __init__(self, message: str = "This link is not valid, or it has already been used."):
        super().__init__(message, status=400, code="invalid_link")


class ExpiredLink(InvalidLink):
    def __init__(self) -> None:
        DomainError.__init__(
            self, "This link has expired. Ask for a new one below.", status=400, code="expired_link"
        )


@dataclass(frozen=True)
class LinkClaims:
    user: User
    data: dict[str, Any]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _serializer(purpose: str) -> URLSafeSerializer:
    # Signed with the email-links key; links from before a SECRET_KEY rotation still verify.
    return URLSafeSerializer(
        verification_keys(current_app, EMAIL_LINKS), salt=f"lk-email-{purpose}"
    )


def _fingerprint(user: User) -> str:
    verified = user.email_verified_at.isoformat() if user.email_verified_at else ""
    state = "|".join((user.email, verified, user.password_hash or "", str(user.session_version)))
    return hashlib.sha256(state.encode()).hexdigest()[:24]


def make_token(user: User, purpose: str, *, now: datetime | None = None, **data: Any) -> str:
    if purpose not in LIFETIMES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    issued = int((now or utcnow()).timestamp())
    payload = {"u": user.id, "t": issued, "f": _fingerprint(user), "d": data}
    return _serializer(purpose).dumps(payload)


def read_token(token: str, purpose: str, *, now: datetime | None = None) -> LinkClaims:
    """The user and data a link was made for; InvalidLink/ExpiredLink otherwise."""
    try:
        payload = _serializer(purpose).loads(token)
    except BadSignature:
        raise InvalidLink() from None
    if not isinstance(payload, dict) or not {"u", "t", "f", "d"} <= payload.keys():
        raise InvalidLink()
    issued = datetime.fromtimestamp(payload["t"], UTC)
    current = now or utcnow()
    if current - issued > LIFETIMES[purpose] or issued - current > CLOCK_SKEW:
        raise ExpiredLink()
    user = db.session.get(User, payload["u"])
    if user is None or payload["f"] != _fingerprint(user):
        raise InvalidLink()
    return LinkClaims(user=user, data=payload["d"])
