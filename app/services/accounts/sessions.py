"""Server-side records of signed-in sessions: open, look up, touch, end. Callers commit.

The browser keeps a random key (inside the signed session and remember cookies); the table keeps
its sha256. A session counts only while its row is live, so ending the row ends every copy of
its cookies, wherever they were captured.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from app.extensions import db
from app.models import User, UserSession
from app.services.accounts import audit
from app.services.accounts.tokens import utcnow

# Writing last_seen_at on every request would turn each page view into a write.
LAST_SEEN_GRANULARITY = timedelta(minutes=1)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def open_session(
    user: User,
    *,
    method: str,
    remember: bool,
    ip: str | None,
    user_agent: str,
    now: datetime | None = None,
) -> str:
    """A new live session for `user`; returns the key for the browser's cookies (never stored)."""
    key = secrets.token_urlsafe(32)
    db.session.add(
        UserSession(
            user_id=user.id,
            key_hash=_hash(key),
            method=method[:32],
            remember=remember,
            user_agent=(user_agent or "")[:255],
            ip_hash=audit.hash_ip(ip) if ip else None,
            last_seen_at=now or utcnow(),
        )
    )
    db.session.flush()
    return key


def find_live(
    user_id: int, key: str, *, idle_limit: timedelta, now: datetime | None = None
) -> UserSession | None:
    """The live session with this key, unless it has been idle longer than `idle_limit`."""
    if not key or len(key) > 100:
        return None
    record = db.session.scalar(
        select(UserSession).where(
            UserSession.key_hash == _hash(key),
            UserSession.user_id == user_id,
            UserSession.revoked_at.is_(None),
        )
    )
    now = now or utcnow()
    if record is None or (record.last_seen_at and now - record.last_seen_at > idle_limit):
        return None
    return record


def touch(record: UserSession, *, now: datetime | None = None) -> bool:
    """Move last_seen_at on (at most once a minute); True if the row changed."""
    now = now or utcnow()
    if record.last_seen_at is None or now - record.last_seen_at >= LAST_SEEN_GRANULARITY:
        record.last_seen_at = now
        return True
    return False


def live_sessions(
    user: User, *, idle_limit: timedelta, now: datetime | None = None
) -> list[UserSession]:
    """Sessions that can still sign in: not ended, and seen within `idle_limit`."""
    since = (now or utcnow()) - idle_limit
    return list(
        db.session.scalars(UserSession.active_of(user.id).where(UserSession.last_seen_at >= since))
    )


def end(record: UserSession, *, now: datetime | None = None) -> None:
    if record.revoked_at is None:
        record.revoked_at = now or utcnow()


def end_all(user: User, *, keep: UserSession | None = None, now: datetime | None = None) -> int:
    """End every live session of `user` except `keep`; how many ended."""
    query = update(UserSession).where(
        UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
    )
    if keep is not None:
        query = query.where(UserSession.id != keep.id)
    result = db.session.execute(
        query.values(revoked_at=now or utcnow()).execution_options(synchronize_session="fetch")
    )
    return result.rowcount or 0


def purge_stale(*, idle_limit: timedelta, now: datetime | None = None) -> int:
    """Delete records that can no longer sign anyone in: ended, or idle past `idle_limit`.

    Ended rows are kept for `idle_limit` too, so Settings and support can still see a recent
    sign-out; how many were deleted.
    """
    cutoff = (now or utcnow()) - idle_limit
    result = db.session.execute(
        delete(UserSession).where(
            or_(UserSession.revoked_at < cutoff, UserSession.last_seen_at < cutoff)
        )
    )
    return result.rowcount or 0
