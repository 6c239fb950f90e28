"""Scheduled looks over the JSON API, with the same rules as the /sync/schedules page.

POST /api/v1/schedules {"avatar_id": int|null, "banner_id": int|null, "profile": bool,
"at": ISO 8601, "revert_at": ISO 8601|null} → 201 {"id"}. A time with an offset is used as is;
one without is taken in the person's time zone (UTC until they choose one on the page).
GET lists them (times in UTC, plus the zone and local times); DELETE /<id> cancels one.
A refusal is 422 {"error", "fields": {name: message}}; another person's ids are 404.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from app.blueprints.api import api_user, bp
from app.extensions import db
from app.models import ScheduledRelease
from app.security import owned_or_404
from app.services.sync import schedules

FIELDS = ("avatar_id", "banner_id", "profile", "at", "revert_at")


def _refused(error: str, fields: dict[str, str]) -> tuple[Response, int]:
    return jsonify(error=error, code="invalid_schedule", fields=fields), 422


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31


def _shape_errors(body: dict[str, Any]) -> dict[str, str]:
    fields = {str(name): "Not a schedule field." for name in body if name not in FIELDS}
    for name in ("avatar_id", "banner_id"):
        if body.get(name) is not None and not _is_id(body[name]):
            fields[name] = "Must be an image id (a positive integer) or null."
    if not isinstance(body.get("profile", False), bool):
        fields["profile"] = "Must be true or false."
    if not isinstance(body.get("at"), str):
        fields["at"] = "Must be an ISO 8601 date and time."
    if body.get("revert_at") is not None and not isinstance(body["revert_at"], str):
        fields["revert_at"] = "Must be an ISO 8601 date and time, or null."
    return fields


@bp.post("/schedules")
def create_schedule() -> tuple[Response, int]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _refused("Send a JSON object with avatar_id, banner_id, profile, at, revert_at.", {})
    if fields := _shape_errors(body):
        return _refused("Some fields could not be used: " + ", ".join(sorted(fields)) + ".", fields)
    user = api_user()
    try:
        schedule = schedules.create(
            user,
            avatar_id=body.get("avatar_id"),
            banner_id=body.get("banner_id"),
            profile=body.get("profile", False),
            at=body["at"],
            revert_at=body.get("revert_at"),
        )
    except schedules.ScheduleInvalid as invalid:
        db.session.rollback()
        return _refused(invalid.message, invalid.fields)
    db.session.commit()  # its delayed job is queued now
    response = jsonify(id=schedule.id)
    response.headers["Location"] = f"/api/v1/schedules/{schedule.id}"
    return response, 201


@bp.get("/schedules")
def list_schedules() -> Response:
    user = api_user()
    zone = schedules.zone_of(user)
    return jsonify([schedules.as_json(s, zone) for s in schedules.listing(user)])


@bp.get("/schedules/<int:scheduled_release_id>")
def get_schedule(scheduled_release_id: int) -> Response:
    user = api_user()
    schedule = owned_or_404(ScheduledRelease, scheduled_release_id, owner=user)
    return jsonify(schedules.as_json(schedule, schedules.zone_of(user)))


@bp.delete("/schedules/<int:scheduled_release_id>")
def cancel_schedule(scheduled_release_id: int) -> Response:
    user = api_user()
    schedule = schedules.cancel(owned_or_404(ScheduledRelease, scheduled_release_id, owner=user))
    db.session.commit()
    return jsonify(schedules.as_json(schedule, schedules.zone_of(user)))
