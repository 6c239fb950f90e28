"""Webhooks over the JSON API, with the same rules as the /settings/webhooks page.

POST /api/v1/webhooks {"url", "events": [...]} → 201 {"id", "secret"}: the secret (Standard
Webhooks `whsec_…`) is shown only in this answer. GET lists them (never a secret); DELETE /<id>
→ 204; POST /<id>/test → 202 {"delivery_id"}. A refusal is 422 {"error", "fields"}; another
person's ids are 404.
"""

from __future__ import annotations

from flask import Response, jsonify, request

from app.blueprints.api import api_user, bp
from app.extensions import db
from app.models import WebhookEndpoint
from app.security import owned_or_404
from app.services.webhooks import delivery, endpoints

FIELDS = ("url", "events")


def _refused(error: str, fields: dict[str, str]) -> tuple[Response, int]:
    return jsonify(error=error, code="invalid_webhook", fields=fields), 422


@bp.post("/webhooks")
def create_webhook() -> tuple[Response, int]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _refused('Send a JSON object: {"url": "https://…", "events": [...]}.', {})
    if unknown := {str(name): "Not a webhook field." for name in body if name not in FIELDS}:
        return _refused(f"Unknown fields; a webhook has: {', '.join(FIELDS)}.", unknown)
    try:
        endpoint, secret = endpoints.create(api_user(), body.get("url"), body.get("events"))
    except endpoints.WebhookInvalid as invalid:
        db.session.rollback()
        return _refused(invalid.message, invalid.fields)
    db.session.commit()
    response = jsonify(id=endpoint.id, secret=secret)
    response.headers["Location"] = f"/api/v1/webhooks/{endpoint.id}"
    return response, 201


@bp.get("/webhooks")
def list_webhooks() -> Response:
    return jsonify([endpoints.as_json(e) for e in endpoints.listing(api_user())])


@bp.delete("/webhooks/<int:endpoint_id>")
def delete_webhook(endpoint_id: int) -> tuple[str, int]:
    endpoints.delete(owned_or_404(WebhookEndpoint, endpoint_id, owner=api_user()))
    db.session.commit()
    return "", 204


@bp.post("/webhooks/<int:endpoint_id>/test")
def test_webhook(endpoint_id: int) -> tuple[Response, int]:
    endpoint = owned_or_404(WebhookEndpoint, endpoint_id, owner=api_user())
    sent = delivery.send_test(endpoint)
    db.session.commit()  # its job is queued now
    return jsonify(delivery_id=sent.id), 202
