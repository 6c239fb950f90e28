"""Reach: each connected account's follower count, read once a UTC day and kept as a series.

The periodic `record_reach` job runs more often than daily (REACH_INTERVAL) so that an account
the platform could not answer for, or that was busy with a push, is tried again the same day;
an account that already has today's reading is skipped, and a reading is stored with an upsert
on (account, day), so running the round again never adds a second row for the day.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, date, datetime

from sqlalchemy import select

from app.extensions import db
from app.models import AccountStatus, PlatformAccount
from app.models.analytics import FollowerCount
from app.services.platforms import REGISTRY, connections
from app.services.platforms.base import Platform

log = logging.getLogger(__name__)

# Accounts one round reads at most; the rest are read by the next round the same day.
ROUND_LIMIT = 500


def counted_platforms() -> list[str]:
    """Platforms whose adapter can tell a follower count (the others are not shown)."""
    return [
        key for key, found in REGISTRY.items() if type(found).followers is not Platform.followers
    ]


def record_round(now: datetime | None = None, limit: int = ROUND_LIMIT) -> dict[str, int]:
    """Read today's count of every connected account that has none yet. Commits per account."""
    now = now or datetime.now(UTC)
    today = now.date()
    done_today = select(FollowerCount.account_id).where(FollowerCount.day == today)
    due = list(
        db.session.scalars(
            select(PlatformAccount.id)
            .where(
                PlatformAccount.status == AccountStatus.CONNECTED,
                PlatformAccount.platform.in_(counted_platforms()),
                PlatformAccount.id.not_in(done_today),
            )
            .order_by(PlatformAccount.id)
            .limit(limit)
        )
    )
    db.session.commit()
    counts = {"recorded": 0, "unknown": 0, "busy": 0, "failed": 0}
    for account_id in due:
        counts[_read_one(account_id, today, now)] += 1
    return counts


def _read_one(account_id: int, today: date, now: datetime) -> str:
    # Reading may refresh a token (Bluesky), which must not race a push: take the account's turn.
    holder = -(secrets.randbelow(2**31 - 2) + 1)
    if not connections.take_turn(account_id, holder, now):
        db.session.rollback()
        return "busy"
    db.session.commit()
    try:
        account = db.session.get(PlatformAccount, account_id)
        count = REGISTRY[account.platform].followers(account) if account else None
        if count is None:
            db.session.commit()  # a refreshed token is kept all the same
            return "unknown"
        store(account_id, today, count)
        db.session.commit()
        return "recorded"
    except Exception:
        log.warning("reading the follower count of account %s failed", account_id, exc_info=True)
        db.session.rollback()
        return "failed"
    finally:
        connections.end_turn(account_id, holder)
        db.session.commit()


def store(account_id: int, day: date, count: int) -> None:
    """Today's reading, replacing an earlier one of the same day. The caller commits."""
    row = db.session.scalar(
        select(FollowerCount).where(
            FollowerCount.account_id == account_id, FollowerCount.day == day
        )
    )
    if row is None:
        db.session.add(FollowerCount(account_id=account_id, day=day, count=count))
    else:
        row.count = count
    db.session.flush()
