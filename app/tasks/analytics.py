"""Analytics jobs: write the buffered events, and keep the daily counts and retention."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import current_app

from app.extensions import db
from app.jobs import DEFAULT, job
from app.services.analytics import reach, recording, rollup


@job(DEFAULT)
def flush_analytics() -> int:
    """Periodic (ANALYTICS_FLUSH_INTERVAL): the events gathered since the last round."""
    return recording.flush()


def roll_up(days: list[date], now: datetime) -> dict[str, int]:
    recording.flush()
    rows = sum(rollup.rollup_day(day) for day in days)
    pruned = rollup.prune(now, current_app.config["ANALYTICS_RETENTION_DAYS"])
    db.session.commit()
    return {"rows": rows, **pruned}


@job(DEFAULT)
def rollup_analytics() -> dict[str, int]:
    """Periodic (ANALYTICS_ROLLUP_INTERVAL): yesterday's counts (events can arrive late) and
    today's so far, then the retention prune."""
    now = datetime.now(UTC)
    return roll_up([now.date() - timedelta(days=1), now.date()], now)


@job(DEFAULT)
def record_reach() -> dict[str, int]:
    """Periodic (REACH_INTERVAL): today's follower count of each account that has none yet."""
    return reach.record_round()
