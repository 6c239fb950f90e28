"""Notifications over the JSON API, the same list as the bell's page.

GET /api/v1/notifications?before=<id>&limit=<1-100> → {"notifications": [{"id", "type",
"sentence", "data", "read", "created_at"}], "unread": int, "next_before": id|null} (newest
first; pass next_before as before for the next page).
POST /api/v1/notifications/read {"ids": [int, ...]} marks those read; {} marks all. Ids that are
not yours change nothing. → {"marked": int, "unread": int}. Bad input is 422 {"error", "fields"}.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from app.blueprints.api import api_user, bp
from app.extensions import db
from app.input import ID_MAX
from app.services.notifications import events
from app.services.notifications.describe import describe

MAX_LIMIT = 100


def _refused(error: str, fields: dict[str, str]) -> tuple[Response, int]:
    return jsonify(error=error, code="invalid_request", fields=fields), 422


def _positive(raw: str, top: int) -> int | None:
    raw = raw.strip()
    return int(raw) if raw.isdigit() and 0 < int(raw) <= top else None


@bp.get("/notifications")
def list_notifications() -> Any:
    fields: dict[str, str] = {}
    before = limit = None
    if "before" in request.args:
        before = _positive(request.args["before"], ID_MAX)
        if before is None:
            fields["before"] = "Must be a notification id (a positive integer)."
    if "limit" in request.args:
        limit = _positive(request.args["limit"], MAX_LIMIT)
        if limit is None:
            fields["limit"] = f"Must be a whole number from 1 to {MAX_LIMIT}."
    if fields:
        return _refused("Some parameters could not be used: " + ", ".join(sorted(fields)), fields)
    user = api_user()
    size = limit or 30
    rows = events.latest(user.id, limit=size + 1, before=before)
    page = rows[:size]
    return jsonify(
        notifications=[
            {
                "id": event.id,
                "type": event.type,
                "sentence": describe(event).sentence,
                "data": event.data,
                "read": event.read_at is not None,
                "created_at": event.created_at.isoformat(),
            }
            for event in page
        ],
        unread=events.unread_count(user.id),
        next_before=page[-1].id if len(rows) > size else None,
    )


@bp.post("/notifications/read")
def read_notifications() -> Any:
    body = request.get_json(silent=True)
    if body is None and not request.get_data():
        body = {}
    if not isinstance(body, dict) or set(body) - {"ids"}:
        return _refused('Send {} to mark all read, or {"ids": [id, ...]}.', {})
    ids = body.get("ids")
    if ids is not None and not (
        isinstance(ids, list)
        and len(ids) <= 1000
        and all(isinstance(i, int) and not isinstance(i, bool) and 0 < i <= ID_MAX for i in ids)
    ):
        return _refused("ids must be a list of notification ids.", {"ids": "A list of ids."})
    user = api_user()
    if ids is None:
        marked = events.mark_read(user.id)
    else:
        marked = sum(events.mark_read(user.id, event_id) for event_id in set(ids))
    db.session.commit()
    return jsonify(marked=marked, unread=events.unread_count(user.id))
