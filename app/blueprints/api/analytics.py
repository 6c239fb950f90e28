"""Analytics over the JSON API: the dashboard's numbers, and the raw events page by page.

GET /api/v1/analytics/summary?from=YYYY-MM-DD&to=YYYY-MM-DD (UTC days, both included, at most
366; both default to the last 30 days) → totals, per-day series, top links and referrers, sync
per platform, followers. GET /api/v1/analytics/events?type=&cursor= → {"events", "next_cursor"},
newest first, 100 a page; pass next_cursor back as cursor for the next page (null: no more).
Raw events are kept ANALYTICS_RETENTION_DAYS. A refusal is 422 {"error", "fields"}.
"""

from __future__ import annotations

from datetime import date

from flask import Response, jsonify, request

from app.blueprints.api import api_user, bp
from app.services.analytics import dashboard
from app.services.analytics.recording import KINDS

CURSOR_MAX = 2**63 - 1


def _refused(error: str, fields: dict[str, str]) -> tuple[Response, int]:
    return jsonify(error=error, code="invalid_analytics_query", fields=fields), 422


def _day(name: str, fields: dict[str, str]) -> date | None:
    raw = request.args.get(name, "")
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw)
    except ValueError:
        pass
    fields[name] = "Must be a date as YYYY-MM-DD."
    return None


@bp.get("/analytics/summary")
def analytics_summary() -> Response | tuple[Response, int]:
    fields: dict[str, str] = {}
    start, end = dashboard.last_days(30)
    if "from" in request.args:
        start = _day("from", fields) or start
    if "to" in request.args:
        end = _day("to", fields) or end
    if not fields and start > end:
        fields["from"] = "Must not be after 'to'."
    elif not fields and (end - start).days + 1 > dashboard.MAX_DAYS:
        fields["to"] = f"The range may span at most {dashboard.MAX_DAYS} days."
    if fields:
        return _refused(
            "The date range could not be used: " + ", ".join(sorted(fields)) + ".", fields
        )
    found = dashboard.summary(api_user().id, start, end)
    return jsonify(dashboard.summary_json(found))


@bp.get("/analytics/events")
def analytics_events() -> Response | tuple[Response, int]:
    fields: dict[str, str] = {}
    kind = request.args.get("type") or None
    if kind is not None and kind not in KINDS:
        fields["type"] = "Must be one of " + ", ".join(sorted(KINDS)) + "."
    cursor = request.args.get("cursor") or None
    before = None
    if cursor is not None:
        if cursor.isascii() and cursor.isdigit() and 0 < int(cursor) <= CURSOR_MAX:
            before = int(cursor)
        else:
            fields["cursor"] = "Must be a next_cursor this endpoint returned."
    if fields:
        return _refused("The query could not be used: " + ", ".join(sorted(fields)) + ".", fields)
    events, next_id = dashboard.events_page(api_user().id, kind, before)
    return jsonify(
        events=[dashboard.event_json(event) for event in events],
        next_cursor=str(next_id) if next_id is not None else None,
    )
