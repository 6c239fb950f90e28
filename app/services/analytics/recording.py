"""Recording events without slowing what is being measured: each event is appended to a buffer
(a Redis list shared by every process, fed in batches; or this process's memory in the embedded
default) and the `flush_analytics` job writes what has gathered in one batch insert.

Recording never fails the request it describes: a buffer that cannot be reached drops the event
(logged), and the page is answered as usual.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from flask import Flask, current_app

from app.extensions import db
from app.models import User
from app.models.analytics import AnalyticsEvent
from app.services.analytics.visitors import Salts, not_tracked, visit

log = logging.getLogger(__name__)

KINDS = frozenset(
    {"page_view", "link_click", "avatar_fetch", "banner_fetch", "upload", "crop_save", "sync_task"}
)
VISITS = frozenset({"page_view", "link_click", "avatar_fetch", "banner_fetch"})
MEMORY_LIMIT = 100_000  # events a process holds before dropping the oldest (embedded default)
PUSH_SECONDS = 0.5  # how long a process gathers events before appending them to Redis
BATCH = 500


class MemoryBuffer:
    def __init__(self) -> None:
        self._events: deque[str] = deque(maxlen=MEMORY_LIMIT)
        self._lock = threading.Lock()

    def add(self, event: str) -> None:
        self._events.append(event)

    def take(self, count: int) -> list[str]:
        with self._lock:
            return [self._events.popleft() for _ in range(min(count, len(self._events)))]


class RedisBuffer:
    """A Redis list every process appends to. Each process gathers its events for up to
    PUSH_SECONDS and appends them in one call (from a timer thread, or at once when BATCH have
    gathered), so a page view costs a list append, not a round trip to Redis. What a process
    holds when it is killed outright (at most PUSH_SECONDS of visits) is lost; a clean exit
    pushes it."""

    def __init__(self, redis, key: str) -> None:
        self.redis, self.key = redis, key
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self._pid: int | None = None

    def add(self, event: str) -> None:
        self._started()
        with self._lock:
            self._pending.append(event)
            full = len(self._pending) >= BATCH
        if full:
            self.push()

    def push(self) -> None:
        with self._lock:
            events, self._pending = self._pending, []
        if events:
            self.redis.rpush(self.key, *events)

    def take(self, count: int) -> list[str]:
        self.push()  # this process's own gathered events first
        taken = self.redis.lpop(self.key, count) or []
        return [item.decode() if isinstance(item, bytes) else item for item in taken]

    def _started(self) -> None:
        # One timer per process, started in the process that records (gunicorn forks workers
        # after the app is made; a forked copy must not push its parent's events again).
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._pending = []
        threading.Thread(target=self._every_moment, name="analytics-push", daemon=True).start()
        atexit.register(self._push_quietly)

    def _every_moment(self) -> None:
        while True:
            time.sleep(PUSH_SECONDS)
            self._push_quietly()

    def _push_quietly(self) -> None:
        try:
            self.push()
        except Exception:
            log.warning("analytics events dropped: Redis could not be reached", exc_info=True)


class Recorder:
    def __init__(self, app: Flask) -> None:
        self.app = app
        backend = app.extensions["jobs"]
        redis = getattr(backend, "redis", None)
        self.buffer = (
            RedisBuffer(redis, f"{backend.prefix}analytics-events") if redis else MemoryBuffer()
        )
        self.salts = Salts()

    def add(self, kind: str, user_id: int, at: datetime | None = None, **facts: Any) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown analytics event {kind!r}")
        moment = (at or datetime.now(UTC)).isoformat()
        event = {"kind": kind, "user_id": user_id, "occurred_at": moment, **facts}
        try:
            self.buffer.add(json.dumps(event))
        except Exception:
            log.warning("analytics event dropped: the buffer could not be reached", exc_info=True)

    def add_visit(self, kind: str, user_id: int, environ: dict, subject: str | None = None) -> None:
        """A visitor's page view, link click or picture fetch (nothing for DNT / GPC)."""
        if not self.app.config["ANALYTICS_ENABLED"] or not_tracked(environ):
            return
        now = datetime.now(UTC)
        salt = self.salts.cached(now.date())
        if salt is None:  # the day's first visit in this process: read (or make) its salt
            try:
                with self.app.app_context():
                    salt = self.salts.for_day(db.engine, now.date())
            except Exception:
                log.warning("analytics visit dropped: no salt for the day", exc_info=True)
                return
        seen = visit(environ, salt)
        self.add(
            kind,
            user_id,
            visitor=seen.visitor,
            bot=seen.bot,
            referrer=seen.referrer if kind == "page_view" else None,
            subject=subject,
            at=now,
        )


def recorder(app: Flask | None = None) -> Recorder:
    app = app or current_app._get_current_object()
    found = app.extensions.get("analytics")
    if found is None:
        found = app.extensions["analytics"] = Recorder(app)
    return found


def record(kind: str, user_id: int, **facts: Any) -> None:
    """Something a signed-in person did or a job finished (an upload, a sync task's outcome)."""
    if current_app.config["ANALYTICS_ENABLED"]:
        recorder().add(kind, user_id, **facts)


def record_visit(kind: str, user_id: int, environ: dict, subject: str | None = None) -> None:
    recorder().add_visit(kind, user_id, environ, subject)


FIELDS = ("visitor", "bot", "referrer", "subject", "outcome", "duration_ms")


def flush(batch: int = 5_000) -> int:
    """Write the buffered events in batches; returns how many were written. Commits."""
    buffer = recorder().buffer
    written = 0
    while events := buffer.take(batch):
        rows = []
        for raw in events:
            try:
                event = json.loads(raw)
                row = {
                    "kind": event["kind"],
                    "user_id": int(event["user_id"]),
                    "occurred_at": datetime.fromisoformat(event["occurred_at"]),
                    **{name: event.get(name) for name in FIELDS},
                }
            except (ValueError, KeyError, TypeError):
                log.warning("analytics event unreadable, skipped: %.200s", raw)
                continue
            row["bot"] = bool(row["bot"])
            rows.append(row)
        if rows:
            # Events of people deleted meanwhile would break the batch's foreign key; FOR KEY
            # SHARE keeps those found alive so until the insert commits (a deletion waits).
            alive = set(
                db.session.scalars(
                    db.select(User.id)
                    .where(User.id.in_({row["user_id"] for row in rows}))
                    .with_for_update(read=True, key_share=True)
                )
            )
            rows = [row for row in rows if row["user_id"] in alive]
        if rows:
            db.session.execute(db.insert(AnalyticsEvent), rows)
        db.session.commit()
        written += len(rows)
        if len(events) < batch:
            break
    return written
