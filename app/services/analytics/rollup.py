"""Daily counts from the raw events, and forgetting what is no longer needed.

`rollup_day` rebuilds one UTC day's rows from scratch (delete, then insert the aggregates), so
it can run again for any day still within the retention window and give the same answer.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import case, delete, func, literal, select

from app.extensions import db
from app.models.analytics import AnalyticsEvent, DailyCount, VisitorSalt


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def rollup_day(day: date) -> int:
    """Rebuild `day`'s daily counts; returns how many rows it wrote. The caller commits."""
    rows = aggregate(day)
    db.session.execute(delete(DailyCount).where(DailyCount.day == day))
    if rows:
        db.session.execute(db.insert(DailyCount), rows)
    return len(rows)


def aggregate(day: date, user_id: int | None = None) -> list[dict]:
    """`day`'s daily-count rows computed from the raw events (everyone's, or one person's),
    written by `rollup_day` and read live by the dashboard for days not final yet."""
    start, end = _bounds(day)
    event = AnalyticsEvent
    in_day = (event.occurred_at >= start) & (event.occurred_at < end)
    if user_id is not None:
        in_day = in_day & (event.user_id == user_id)
    people = func.sum(case((event.bot.is_(False), 1), else_=0))
    uniques = func.count(func.distinct(case((event.bot.is_(False), event.visitor), else_=None)))
    bots = func.sum(case((event.bot.is_(True), 1), else_=0))
    groupings = (
        # every kind by subject and outcome (a page view's subject is empty)
        (event.kind, func.coalesce(event.subject, ""), func.coalesce(event.outcome, ""), in_day),
        # page views again, by referring host
        (literal("referrer"), event.referrer, literal(""), in_day
         & (event.kind == "page_view") & event.referrer.is_not(None)),
    )  # fmt: skip
    rows = []
    for kind, subject, outcome, where in groupings:
        query = (
            select(event.user_id, kind, subject, outcome, people, uniques, bots)
            .where(where)
            .group_by(event.user_id, kind, subject, outcome)
        )
        for user_id, kind_, subject_, outcome_, count, unique, bot_count in db.session.execute(
            query
        ):
            rows.append(
                {
                    "user_id": user_id,
                    "day": day,
                    "kind": kind_,
                    "subject": subject_ or "",
                    "outcome": outcome_ or "",
                    "count": int(count or 0),
                    "uniques": int(unique or 0),
                    "bots": int(bot_count or 0),
                }
            )
    return rows


def prune(now: datetime, retention_days: int) -> dict[str, int]:
    """Raw events older than the retention window, and every salt before today's: yesterday's
    visitors then cannot be told apart from today's, by anyone. The caller commits."""
    events = db.session.execute(
        delete(AnalyticsEvent).where(
            AnalyticsEvent.occurred_at < now - timedelta(days=retention_days)
        )
    ).rowcount
    salts = db.session.execute(delete(VisitorSalt).where(VisitorSalt.day < now.date())).rowcount
    return {"events": events or 0, "salts": salts or 0}
