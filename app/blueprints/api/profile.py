"""GET/PATCH /api/v1/profile: the same fields and rules as the /profile page.

PATCH takes any subset of FIELDS; a refusal is 422 {"error", "fields": {name: message}}, unknown
fields included, and nothing is changed.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from app.blueprints.api import api_user, bp
from app.extensions import db
from app.models import Profile
from app.services import profiles

FIELDS = ("display_name", "handle", "bio", "website", "location", "links", "public")


def _json(profile: Profile) -> dict[str, Any]:
    body = {name: getattr(profile, name) for name in FIELDS}
    body["links"] = [{"label": link["label"], "url": link["url"]} for link in profile.links or []]
    return body


def _refused(error: str, fields: dict[str, str]) -> tuple[Response, int]:
    return jsonify(error=error, code="invalid_profile", fields=fields), 422


@bp.get("/profile")
def get_profile() -> Response:
    profile = profiles.get_or_create(api_user())
    db.session.commit()
    return jsonify(_json(profile))


@bp.patch("/profile")
def patch_profile() -> Response | tuple[Response, int]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _refused("Send a JSON object with the fields to change.", {})
    unknown = {str(name): "Not a profile field." for name in body if name not in FIELDS}
    if unknown:
        return _refused(f"Unknown fields; the profile has: {', '.join(FIELDS)}.", unknown)
    try:
        profile = profiles.update(api_user(), body)
    except profiles.ProfileInvalid as invalid:
        db.session.rollback()
        return _refused(invalid.message, invalid.fields)
    db.session.commit()
    return jsonify(_json(profile))
