"""Per-platform push health for the admin page, read from the sync tasks (no separate counters).

For the last hour and the last day, per platform we push to:
- succeeded / failed / reconnect-needed: tasks that *ended* that way in the window (finished_at);
  a task still retrying is not a failure yet, it may well succeed;
- rate-limited: the 429s (SyncTask.rate_limited) of tasks touched in the window (updated_at).
  The column counts a task's whole life, so a task that waited on a 429 yesterday and was
  touched again within the hour counts in both windows: close enough for spotting a platform
  that is pacing us, without a table of attempts;
- median push latency: push_ms of the tasks that ended in the window (the last attempt's call).

A platform is *highlighted* when its last hour's failure rate jumps (see `_jump`). Manual
platforms (the person uploads our files) make no pushes and are left out.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, select

from app.extensions import db
from app.models import PlatformAccount, SyncTask, TaskStatus
from app.services.platforms import all_adapters

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
RECENT_ERRORS = 5
# Latency samples read per platform and window: enough for a stable median, bounded memory.
LATENCY_SAMPLES = 5000

# The jump rule: at least JUMP_MIN_FAILURES failures in the last hour, making up at least
# JUMP_MIN_RATE of its pushes, and either more than JUMP_ALONE_RATE of them, or at least
# JUMP_FACTOR times the failure rate of the 23 hours before (the day without the hour, so the
# hour is compared with a baseline it is not part of). The floors keep a quiet platform with
# one or two unlucky pushes, or a busy one with a handful in thousands, from lighting up.
JUMP_MIN_FAILURES = 3
JUMP_MIN_RATE = 0.10
JUMP_ALONE_RATE = 0.50
JUMP_FACTOR = 2.0

ENDED = (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.NEEDS_RECONNECT)


@dataclass(frozen=True)
class Window:
    succeeded: int = 0
    failed: int = 0
    rate_limited: int = 0
    reconnect: int = 0
    median_ms: float | None = None

    @property
    def pushes(self) -> int:
        """Pushes that ended with the platform's answer (reconnects are the person's tokens)."""
        return self.succeeded + self.failed

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.pushes if self.pushes else None


@dataclass(frozen=True)
class PlatformHealth:
    key: str
    label: str
    hour: Window
    day: Window
    highlighted: bool
    reason: str | None


@dataclass(frozen=True)
class RecentError:
    platform: str
    label: str
    handle: str
    error: str
    status: TaskStatus
    at: datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def health(now: datetime | None = None) -> list[PlatformHealth]:
    """Every API platform's hour and day, in the order the pages list platforms."""
    now = now or utcnow()
    hour_since, day_since = now - HOUR, now - DAY
    ended = _ended_counts(hour_since, day_since)
    waits = _rate_limited(hour_since, day_since)
    latency = _latencies(hour_since, day_since)
    result = []
    for adapter in all_adapters():
        windows = {}
        for name in ("hour", "day"):
            counts = ended[adapter.key][name]
            windows[name] = Window(
                succeeded=counts[TaskStatus.SUCCEEDED],
                failed=counts[TaskStatus.FAILED],
                reconnect=counts[TaskStatus.NEEDS_RECONNECT],
                rate_limited=waits[adapter.key][name],
                median_ms=_median(latency[adapter.key][name]),
            )
        reason = _jump(windows["hour"], windows["day"])
        result.append(
            PlatformHealth(
                adapter.key,
                adapter.label,
                windows["hour"],
                windows["day"],
                reason is not None,
                reason,
            )
        )
    return result


def _ended_counts(hour_since: datetime, day_since: datetime) -> dict:
    in_hour = case((SyncTask.finished_at >= hour_since, 1), else_=0)
    rows = db.session.execute(
        select(PlatformAccount.platform, SyncTask.status, func.sum(in_hour), func.count())
        .join(PlatformAccount, PlatformAccount.id == SyncTask.account_id)
        .where(SyncTask.finished_at >= day_since, SyncTask.status.in_(ENDED))
        .group_by(PlatformAccount.platform, SyncTask.status)
    )
    counts: dict = defaultdict(lambda: {"hour": defaultdict(int), "day": defaultdict(int)})
    for platform, status, hour, day in rows:
        counts[platform]["hour"][status] = int(hour or 0)
        counts[platform]["day"][status] = int(day)
    return counts


def _rate_limited(hour_since: datetime, day_since: datetime) -> dict:
    in_hour = case((SyncTask.updated_at >= hour_since, SyncTask.rate_limited), else_=0)
    rows = db.session.execute(
        select(PlatformAccount.platform, func.sum(in_hour), func.sum(SyncTask.rate_limited))
        .join(PlatformAccount, PlatformAccount.id == SyncTask.account_id)
        .where(SyncTask.updated_at >= day_since, SyncTask.rate_limited > 0)
        .group_by(PlatformAccount.platform)
    )
    waits: dict = defaultdict(lambda: {"hour": 0, "day": 0})
    for platform, hour, day in rows:
        waits[platform] = {"hour": int(hour or 0), "day": int(day or 0)}
    return waits


def _latencies(hour_since: datetime, day_since: datetime) -> dict:
    """The newest LATENCY_SAMPLES push times per platform: medians are computed here, the
    same way on SQLite (no percentile functions) and Postgres."""
    samples: dict = defaultdict(lambda: {"hour": [], "day": []})
    for adapter in all_adapters():
        rows = db.session.execute(
            select(SyncTask.finished_at, SyncTask.push_ms)
            .join(PlatformAccount, PlatformAccount.id == SyncTask.account_id)
            .where(
                PlatformAccount.platform == adapter.key,
                SyncTask.finished_at >= day_since,
                SyncTask.push_ms.is_not(None),
            )
            .order_by(SyncTask.finished_at.desc())
            .limit(LATENCY_SAMPLES)
        )
        for finished_at, push_ms in rows:
            samples[adapter.key]["day"].append(push_ms)
            if finished_at >= hour_since:
                samples[adapter.key]["hour"].append(push_ms)
    return samples


def _median(values: list[int]) -> float | None:
    return statistics.median(values) if values else None


def _jump(hour: Window, day: Window) -> str | None:
    """Why the last hour stands out, or None. See JUMP_* above."""
    rate = hour.failure_rate
    if rate is None or hour.failed < JUMP_MIN_FAILURES or rate < JUMP_MIN_RATE:
        return None
    before_pushes = day.pushes - hour.pushes
    before_rate = (day.failed - hour.failed) / before_pushes if before_pushes else None
    if rate > JUMP_ALONE_RATE:
        return f"{rate:.0%} of the last hour's pushes failed"
    if before_rate is not None and rate >= JUMP_FACTOR * before_rate:
        return f"failures up to {rate:.0%} in the last hour, from {before_rate:.0%} before"
    return None


def recent_errors(limit: int = RECENT_ERRORS) -> list[RecentError]:
    """The newest push errors on any API platform: given up, reconnect needed, or retrying."""
    labels = {adapter.key: adapter.label for adapter in all_adapters()}
    rows = db.session.execute(
        select(
            PlatformAccount.platform,
            PlatformAccount.handle,
            SyncTask.error,
            SyncTask.status,
            SyncTask.updated_at,
        )
        .join(PlatformAccount, PlatformAccount.id == SyncTask.account_id)
        .where(
            SyncTask.error.is_not(None),
            SyncTask.status.in_(
                (TaskStatus.FAILED, TaskStatus.NEEDS_RECONNECT, TaskStatus.RETRYING)
            ),
            PlatformAccount.platform.in_(list(labels)),
        )
        .order_by(SyncTask.updated_at.desc(), SyncTask.id.desc())
        .limit(limit)
    )
    return [
        RecentError(platform, labels[platform], handle, error, status, at)
        for platform, handle, error, status, at in rows
    ]
