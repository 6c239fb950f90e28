"""Personal API tokens: "lk_" + 256 random bits, stored only as a sha256 hash."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update

from app.extensions import db
from app.infra import row_security
from app.models import ApiToken, User
from app.services.accounts import audit
from app.services.accounts.tokens import utcnow
from app.services.exceptions import DomainError

PREFIX = "lk_"  # recognisable in logs and by secret scanners
# read: every GET; write: every other method; analytics: /api/v1/analytics (a token for a
# dashboard script need not be able to change anything, nor a deploy script to read the numbers).
# Asking for a data export (/api/v1/export) is `read` too: it only reads, whatever the method.
SCOPES = ("read", "write", "analytics")
MAX_ACTIVE_TOKENS = 50
# Writing last_used_at on every call would turn each API read into a write; a minute is plenty.
LAST_USED_GRANULARITY = timedelta(minutes=1)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class VerifyFirst(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "Confirm your email address before creating API tokens: open the link we emailed "
            "you (Settings can send a new one).",
            status=403,
            code="verify_first",
        )


def create_token(
    user: User, name: str, *, scopes: tuple[str, ...] | list[str] = SCOPES, ip: str | None = None
) -> tuple[ApiToken, str]:
    """The new row and the raw token, which is never stored: show it once.

    Only for a confirmed address: whoever registered an address they do not own must not leave a
    credential behind that outlives the real owner taking the account back.
    """
    if not user.is_verified:
        raise VerifyFirst()
    chosen = [scope for scope in SCOPES if scope in scopes]
    if not chosen or len(chosen) != len(set(scopes)):
        raise DomainError(
            f"Choose what the token may do: {', '.join(SCOPES)}.", status=422, code="bad_scopes"
        )
    active = db.session.scalar(
        select(db.func.count())
        .select_from(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    )
    if active >= MAX_ACTIVE_TOKENS:
        raise DomainError(
            f"You can have at most {MAX_ACTIVE_TOKENS} active tokens. "
            "Revoke one you no longer use.",
            status=422,
            code="too_many_tokens",
        )
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name.strip(),
        token_hash=hash_token(raw),
        display_prefix=raw[:7],
        session_version=user.session_version,
        scopes=" ".join(chosen),
    )
    db.session.add(token)
    db.session.flush()
    audit.record("token_created", user, ip, token_id=token.id, name=token.name, scopes=token.scopes)
    return token, raw


def authenticate(raw: str, *, now: datetime | None = None) -> ApiToken | None:
    """The active token for `raw`, with last_used_at bumped; None for unknown or revoked, and
    for a token made before its user's session version moved on (the account was recovered)."""
    if not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    # Which person the token is for is not known before this lookup (hence the bypass); from
    # then on the request sees that person's rows only.
    with row_security.bypass("api token"):
        owner_id = db.session.scalar(
            select(ApiToken.user_id).where(ApiToken.token_hash == hash_token(raw))
        )
    if owner_id is None:
        return None
    row_security.act_as(owner_id)
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(raw)))
    if token is None or token.revoked_at is not None:
        row_security.act_as(None)
        return None
    if token.session_version != token.user.session_version:
        row_security.act_as(None)
        return None
    now = now or utcnow()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_GRANULARITY:
        token.last_used_at = now
    return token


def revoke_token(token: ApiToken, *, ip: str | None = None) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record("token_revoked", token.user, ip, token_id=token.id, name=token.name)


def revoke_all(user: User, *, now: datetime | None = None) -> int:
    """Revoke every active token of `user`; how many were revoked."""
    result = db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount or 0


def carry_over(user: User) -> None:
    """Keep the active tokens working across a session-version bump the owner made themselves
    (a password change with the current password), which only means to end other devices."""
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(session_version=user.session_version)
        .execution_options(synchronize_session="fetch")
    )


def tokens_of(user: User) -> list[ApiToken]:
    return list(db.session.scalars(ApiToken.owned_by(user.id)))


def scope_needed(method: str, path: str) -> str:
    """The scope an API request needs."""
    if path.startswith("/api/v1/analytics"):
        return "analytics"
    if path == "/api/v1/export" or path.startswith("/api/v1/export/"):
        return "read"
    return "read" if method in ("GET", "HEAD", "OPTIONS") else "write"
