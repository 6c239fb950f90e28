"""The webhooks page (/settings/webhooks): add an endpoint (its secret shown once), send a test
event, rotate the secret, re-enable, delete, and each endpoint's recent deliveries.

Every form posts to its own route and htmx swaps the section in place; without htmx the same
routes answer the whole page. The rules live in app/services/webhooks/.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app.extensions import db
from app.htmx import render
from app.models import WebhookEndpoint
from app.security import owned_or_404
from app.services.webhooks import delivery, endpoints

bp = Blueprint("webhooks", __name__)
LOG_LENGTH = 10


def _page(status: int = 200, **context: Any) -> Response:
    hooks = endpoints.listing(current_user)
    context.setdefault("form", {"url": "", "events": list(endpoints.EVENT_TYPES)})
    context.setdefault("errors", {})
    return render(
        "webhooks/index.html",
        "webhooks/partials/webhooks.html",
        status,
        hooks=hooks,
        logs={hook.id: delivery.recent(hook, LOG_LENGTH) for hook in hooks},
        event_types=endpoints.EVENT_TYPES,
        event_labels=endpoints.EVENT_LABELS,
        **context,
    )


@bp.get("/settings/webhooks")
@login_required
def index() -> Response:
    return _page()


@bp.post("/settings/webhooks")
@login_required
def create() -> Response:
    form = {"url": request.form.get("url", ""), "events": request.form.getlist("events")}
    try:
        endpoint, secret = endpoints.create(current_user, form["url"], form["events"])
    except endpoints.WebhookInvalid as invalid:
        db.session.rollback()
        return _page(422, form=form, errors=invalid.fields)
    db.session.commit()
    return _page(201, new_secret=secret)


@bp.post("/settings/webhooks/<int:endpoint_id>/test")
@login_required
def send_test(endpoint_id: int) -> Response:
    endpoint = owned_or_404(WebhookEndpoint, endpoint_id)
    delivery.send_test(endpoint)
    db.session.commit()
    message = "Test event queued: it appears in the log below once sent (reload to see it)."
    return _page(202, notices={endpoint.id: message})


@bp.post("/settings/webhooks/<int:endpoint_id>/rotate")
@login_required
def rotate(endpoint_id: int) -> Response:
    endpoint = owned_or_404(WebhookEndpoint, endpoint_id)
    secret = endpoints.rotate_secret(endpoint)
    db.session.commit()
    return _page(new_secret=secret, rotated=True)


@bp.post("/settings/webhooks/<int:endpoint_id>/enable")
@login_required
def enable(endpoint_id: int) -> Response:
    endpoint = owned_or_404(WebhookEndpoint, endpoint_id)
    endpoints.enable(endpoint)
    db.session.commit()
    return _page(notices={endpoint.id: "Enabled again: new events are delivered."})


@bp.post("/settings/webhooks/<int:endpoint_id>/delete")
@login_required
def delete(endpoint_id: int) -> Response:
    endpoint = owned_or_404(WebhookEndpoint, endpoint_id)
    url = endpoint.url
    endpoints.delete(endpoint)
    db.session.commit()
    return _page(notice=f"Webhook {url} deleted.")
