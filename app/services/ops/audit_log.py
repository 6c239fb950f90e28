"""The audit trail as admins read it: filtered by user, action and date range, newest first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, User
from app.services.exceptions import DomainError
from app.services.ops.paging import Page, clean_text, page_number, paginate

TEXT_MAX = 200


@dataclass(frozen=True)
class Filters:
    user: str = ""  # part of the email address of the user the event is about
    action: str = ""  # the event name, exactly
    since: date | None = None  # from the start of this day (UTC)
    until: date | None = None  # to the end of this day (UTC)
    page: int = 1

    def query_args(self) -> dict[str, str]:
        """The filters as address-bar values (for the pager's links)."""
        values = {
            "user": self.user,
            "action": self.action,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {key: value for key, value in values.items() if value}


@dataclass(frozen=True)
class Entry:
    id: int
    event: str
    email: str | None  # None once the user was deleted (the trail outlives the account)
    details: dict[str, Any]
    ip_hash: str | None
    at: datetime


class BadFilter(DomainError):
    def __init__(self, message: str):
        super().__init__(message, status=400, code="bad_filter")


def parse(args: Mapping[str, str]) -> Filters:
    """Filters from the address bar; a date that is not YYYY-MM-DD, or a range that ends before
    it starts, is refused with a message saying so."""
    since = _date(args.get("since", ""), "From")
    until = _date(args.get("until", ""), "To")
    if since and until and until < since:
        raise BadFilter(f"The range ends ({until}) before it starts ({since}).")
    return Filters(
        user=clean_text(args.get("user", ""), TEXT_MAX),
        action=clean_text(args.get("action", ""), TEXT_MAX),
        since=since,
        until=until,
        page=page_number(args.get("page", 1)),
    )


def _date(value: str, label: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10]) if len(value) == 10 else _fail(label, value)
    except ValueError:
        return _fail(label, value)


def _fail(label: str, value: str) -> date:
    shown = value if len(value) <= 40 else value[:40] + "…"
    raise BadFilter(f"{label} date {shown!r} is not a date: use YYYY-MM-DD, like 2026-03-01.")


def actions() -> list[str]:
    """Every event name the trail holds, for the filter's choices."""
    return list(db.session.scalars(select(AuditLog.event).distinct().order_by(AuditLog.event)))


def entries(filters: Filters) -> Page[Entry]:
    query = (
        select(AuditLog, User.email)
        .outerjoin(User, User.id == AuditLog.user_id)
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
    )
    if filters.user:
        pattern = filters.user.lower().replace("\\", "\\\\").replace("%", r"\%")
        query = query.where(User.email.like("%" + pattern.replace("_", r"\_") + "%", escape="\\"))
    if filters.action:
        query = query.where(AuditLog.event == filters.action)
    if filters.since:
        query = query.where(AuditLog.created_at >= datetime.combine(filters.since, time(), UTC))
    if filters.until and filters.until < date.max:  # the last day there is has no "after"
        end = datetime.combine(filters.until + timedelta(days=1), time(), UTC)
        query = query.where(AuditLog.created_at < end)
    return paginate(query, filters.page, _entries)


def _entries(rows: Sequence[Any]) -> list[Entry]:
    return [
        Entry(log.id, log.event, email, log.details or {}, log.ip_hash, log.created_at)
        for log, email in rows
    ]
