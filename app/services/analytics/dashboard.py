"""What the analytics dashboard and the analytics API show: one person's numbers for a range
of UTC days.

Where the numbers come from, exactly:
- Visits (page views, link clicks, picture fetches, referrers): days before yesterday from the
  daily counts, which are final (the rollup job rebuilds yesterday's after midnight too);
  yesterday and today from the raw events, with the rollup's own aggregation, so the page is
  current to the last flushed event (ANALYTICS_FLUSH_INTERVAL) without waiting for a rollup.
- Sync: straight from the sync tasks, the source of truth (and older than any event). A task
  counts on the day it finished; "attempted" is every task we pushed or tried to push (manual
  platforms are the person's to do, not counted); "live" are the succeeded ones plus the skipped
  ones (the platform already showed those bytes). Time to live is from the release being made
  (the sync request) to the task's success, the median over the live tasks.
- Reach: the follower counts the daily `record_reach` job keeps, one line per account.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import PlatformAccount, SyncRequest, SyncTask, TaskStatus
from app.models.analytics import AnalyticsEvent, DailyCount, FollowerCount
from app.services.analytics.rollup import aggregate
from app.services.platforms import REGISTRY

RANGES = (7, 30, 90)  # the dashboard's choices, in days
MAX_DAYS = 366  # the widest range the API answers
TOP = 20  # rows in the top-links and top-referrers tables
RECENT_FAILURES = 20
PUSHED = (TaskStatus.SUCCEEDED, TaskStatus.SKIPPED, TaskStatus.FAILED, TaskStatus.NEEDS_RECONNECT)
LIVE = (TaskStatus.SUCCEEDED, TaskStatus.SKIPPED)
FAILED = (TaskStatus.FAILED, TaskStatus.NEEDS_RECONNECT)
SERIES = ("page_views", "uniques", "link_clicks", "avatar_fetches", "banner_fetches")


@dataclass
class PlatformSync:
    platform: str
    label: str
    attempted: int = 0
    live: int = 0
    failed: int = 0
    median_seconds: float | None = None

    @property
    def success_rate(self) -> float | None:
        return round(100 * self.live / self.attempted, 1) if self.attempted else None


@dataclass
class Summary:
    start: date
    end: date
    days: list[date]
    series: dict[str, list[int]]
    totals: dict[str, int]
    top_links: list[tuple[str, int]]
    top_referrers: list[tuple[str, int]]
    sync: list[PlatformSync]
    failures: list[dict[str, Any]]
    followers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (any(self.totals.values()) or self.sync or self.followers or self.top_referrers)


def today() -> date:
    return datetime.now(UTC).date()


def last_days(days: int, until: date | None = None) -> tuple[date, date]:
    end = until or today()
    return end - timedelta(days=days - 1), end


def summary(user_id: int, start: date, end: date) -> Summary:
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    index = {day: n for n, day in enumerate(days)}
    series = {name: [0] * len(days) for name in SERIES}
    links: dict[str, int] = defaultdict(int)
    referrers: dict[str, int] = defaultdict(int)
    for row in daily_rows(user_id, start, end):
        n = index[row["day"]]
        kind, subject = row["kind"], row["subject"]
        if kind == "page_view":
            series["page_views"][n] += row["count"]
            series["uniques"][n] += row["uniques"]
        elif kind == "link_click":
            series["link_clicks"][n] += row["count"]
            links[subject] += row["count"]
        elif kind == "avatar_fetch":
            series["avatar_fetches"][n] += row["count"]
        elif kind == "banner_fetch":
            series["banner_fetches"][n] += row["count"]
        elif kind == "referrer" and row["count"]:
            referrers[subject] += row["count"]
    return Summary(
        start=start,
        end=end,
        days=days,
        series=series,
        totals={name: sum(values) for name, values in series.items()},
        top_links=_top(links),
        top_referrers=_top(referrers),
        sync=sync_by_platform(user_id, start, end),
        failures=recent_failures(user_id, start, end),
        followers=followers(user_id, start, end),
    )


def daily_rows(user_id: int, start: date, end: date) -> list[dict[str, Any]]:
    """The daily-count rows of [start, end]: final days stored, the last two live."""
    live_from = max(start, today() - timedelta(days=1))
    stored_until = min(end, live_from - timedelta(days=1))
    rows: list[dict[str, Any]] = []
    if start <= stored_until:
        columns = (DailyCount.day, DailyCount.kind, DailyCount.subject, DailyCount.count)
        found = db.session.execute(
            select(*columns, DailyCount.uniques).where(
                DailyCount.user_id == user_id,
                DailyCount.day >= start,
                DailyCount.day <= stored_until,
            )
        )
        rows += [
            {"day": d, "kind": k, "subject": s, "count": c, "uniques": u} for d, k, s, c, u in found
        ]
    day = live_from
    while day <= end:
        rows += aggregate(day, user_id)
        day += timedelta(days=1)
    return rows


def _top(counts: dict[str, int]) -> list[tuple[str, int]]:
    ranked = sorted(((k, v) for k, v in counts.items() if v), key=lambda kv: (-kv[1], kv[0]))
    return ranked[:TOP]


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time.min, tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
    )


def _label(platform: str) -> str:
    found = REGISTRY.get(platform)
    return found.label if found else platform


def sync_by_platform(user_id: int, start: date, end: date) -> list[PlatformSync]:
    since, until = _bounds(start, end)
    rows = db.session.execute(
        select(
            PlatformAccount.platform, SyncTask.status, SyncTask.finished_at, SyncRequest.created_at
        )
        .join(PlatformAccount, PlatformAccount.id == SyncTask.account_id)
        .join(SyncRequest, SyncRequest.id == SyncTask.request_id)
        .where(
            SyncTask.user_id == user_id,
            SyncTask.status.in_(PUSHED),
            SyncTask.finished_at >= since,
            SyncTask.finished_at < until,
        )
    )
    found: dict[str, PlatformSync] = {}
    waits: dict[str, list[float]] = defaultdict(list)
    for platform, status, finished_at, created_at in rows:
        entry = found.setdefault(platform, PlatformSync(platform, _label(platform)))
        entry.attempted += 1
        if status in LIVE:
            entry.live += 1
            waits[platform].append(max((finished_at - created_at).total_seconds(), 0.0))
        else:
            entry.failed += 1
    for platform, entry in found.items():
        if waits[platform]:
            entry.median_seconds = round(statistics.median(waits[platform]), 1)
    return sorted(found.values(), key=lambda entry: entry.label)


def recent_failures(user_id: int, start: date, end: date) -> list[dict[str, Any]]:
    since, until = _bounds(start, end)
    rows = db.session.execute(
        select(
            SyncTask.finished_at, PlatformAccount.platform, PlatformAccount.handle, SyncTask.error
        )
        .join(PlatformAccount, PlatformAccount.id == SyncTask.account_id)
        .where(
            SyncTask.user_id == user_id,
            SyncTask.status.in_(FAILED),
            SyncTask.finished_at >= since,
            SyncTask.finished_at < until,
        )
        .order_by(SyncTask.finished_at.desc(), SyncTask.id.desc())
        .limit(RECENT_FAILURES)
    )
    return [
        {
            "at": finished_at,
            "platform": platform,
            "label": _label(platform),
            "handle": handle,
            "error": error or "",
        }
        for finished_at, platform, handle, error in rows
    ]


def followers(user_id: int, start: date, end: date) -> list[dict[str, Any]]:
    """One series per account with readings in the range: {"account", "label", "points"}."""
    rows = db.session.execute(
        select(
            PlatformAccount.id,
            PlatformAccount.platform,
            PlatformAccount.handle,
            FollowerCount.day,
            FollowerCount.count,
        )
        .join(PlatformAccount, PlatformAccount.id == FollowerCount.account_id)
        .where(
            PlatformAccount.user_id == user_id,
            FollowerCount.day >= start,
            FollowerCount.day <= end,
        )
        .order_by(PlatformAccount.platform, PlatformAccount.id, FollowerCount.day)
    )
    series: dict[int, dict[str, Any]] = {}
    for account_id, platform, handle, day, count in rows:
        entry = series.setdefault(
            account_id,
            {
                "account_id": account_id,
                "platform": platform,
                "label": f"{_label(platform)} {handle}",
                "handle": handle,
                "points": [],
            },
        )
        entry["points"].append((day, count))
    return list(series.values())


# Events (the API's raw list)

PAGE_SIZE = 100


def events_page(
    user_id: int, kind: str | None, before_id: int | None, size: int = PAGE_SIZE
) -> tuple[list[AnalyticsEvent], int | None]:
    """Newest first; the next page starts below the last id returned (None: no more)."""
    query = select(AnalyticsEvent).where(AnalyticsEvent.user_id == user_id)
    if kind:
        query = query.where(AnalyticsEvent.kind == kind)
    if before_id is not None:
        query = query.where(AnalyticsEvent.id < before_id)
    found = list(db.session.scalars(query.order_by(AnalyticsEvent.id.desc()).limit(size + 1)))
    more = len(found) > size
    found = found[:size]
    return found, (found[-1].id if more else None)


def event_json(event: AnalyticsEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.kind,
        "occurred_at": event.occurred_at.isoformat(),
        "bot": event.bot,
        "referrer": event.referrer,
        "subject": event.subject,
        "outcome": event.outcome,
        "duration_ms": event.duration_ms,
    }


def summary_json(found: Summary) -> dict[str, Any]:
    return {
        "from": found.start.isoformat(),
        "to": found.end.isoformat(),
        "totals": found.totals,
        "days": [
            {"day": day.isoformat(), **{name: found.series[name][n] for name in SERIES}}
            for n, day in enumerate(found.days)
        ],
        "top_links": [{"url": url, "clicks": clicks} for url, clicks in found.top_links],
        "top_referrers": [{"host": host, "views": views} for host, views in found.top_referrers],
        "sync": [
            {
                "platform": entry.platform,
                "attempted": entry.attempted,
                "live": entry.live,
                "failed": entry.failed,
                "success_rate": entry.success_rate,
                "median_time_to_live_seconds": entry.median_seconds,
            }
            for entry in found.sync
        ],
        "followers": [
            {
                "platform": entry["platform"],
                "handle": entry["handle"],
                "points": [{"day": d.isoformat(), "count": c} for d, c in entry["points"]],
            }
            for entry in found.followers
        ],
    }
