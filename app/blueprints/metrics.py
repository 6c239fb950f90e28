"""GET /metrics for Prometheus: with `Authorization: Bearer <METRICS_TOKEN>`, or as a signed-in
admin. Everyone else, a wrong token included, gets the same 404 as a page that does not exist,
as on /admin: the endpoint is not advertised to those who may not read it."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, current_app, request
from flask_login import current_user
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from app.services.ops import metrics

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def scrape() -> Response:
    if not _allowed():
        abort(404)
    # The classic text format every Prometheus version reads (our names need no escaping).
    response = Response(metrics.exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
    response.headers["Cache-Control"] = "no-store"
    return response


def _allowed() -> bool:
    header = request.headers.get("Authorization")
    if header is not None:
        # A scraper that sends a token is judged by it alone, never by a session it also has.
        scheme, _, token = header.partition(" ")
        expected = current_app.config.get("METRICS_TOKEN") or ""
        return (
            scheme.lower() == "bearer"
            and bool(expected)
            and hmac.compare_digest(token.strip().encode(), expected.encode())
        )
    return bool(current_user.is_authenticated and current_user.is_admin)
