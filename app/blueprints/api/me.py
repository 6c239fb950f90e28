"""GET /api/v1/me: who this token belongs to."""

from flask import jsonify
from flask.wrappers import Response

from app.blueprints.api import api_user, bp


@bp.get("/me")
def me() -> Response:
    user = api_user()
    return jsonify(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role.value,
        email_verified=user.is_verified,
        created_at=user.created_at.isoformat() if user.created_at else None,
    )
