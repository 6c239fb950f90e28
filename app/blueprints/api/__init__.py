"""The JSON API under /api/v1, authenticated by personal API tokens (Authorization: Bearer).

CSRF-exempt because browsers never attach a bearer token on their own: session cookies are not
accepted here at all. Rate-limited per token (API_RATE_LIMIT); failed authentications are
limited per client address (API_AUTH_FAILURE_RATE_LIMIT), so guessing tokens does not get a
fresh bucket with every guess. Route modules are imported at the bottom of this file; add yours
there with one line.
"""

from __future__ import annotations

import hashlib

from flask import Blueprint, Response, current_app, g, jsonify, request

from app.extensions import csrf, db, limiter
from app.models import User
from app.services.accounts import api_tokens

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def _bearer() -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _rate_key() -> str:
    """One bucket per token (its hash, never the token); no token → per client address."""
    raw = _bearer()
    if raw:
        return "api-token:" + hashlib.sha256(raw.encode()).hexdigest()[:32]
    return "api-ip:" + (request.remote_addr or "")


# Endpoints anyone may call without a token, outside the API's rate limits (the API's own
# description: the same static document for everyone).
PUBLIC_ENDPOINTS = frozenset({"api.openapi_document"})


def _is_public() -> bool:
    return request.endpoint in PUBLIC_ENDPOINTS


limiter.limit(
    lambda: current_app.config["API_RATE_LIMIT"],
    key_func=_rate_key,
    exempt_when=_is_public,
    error_message="Too many API requests for this token; see the Retry-After header.",
)(bp)
# Only refused authentications count here; once over, this address is refused for a while, good
# token or not, so trying tokens from one address stays slow.
limiter.limit(
    lambda: current_app.config["API_AUTH_FAILURE_RATE_LIMIT"],
    key_func=lambda: "api-auth-failures:" + (request.remote_addr or ""),
    deduct_when=lambda response: response.status_code == 401,
    error_message="Too many failed API authentications from your address; see Retry-After.",
)(bp)


def _unauthorized(message: str) -> Response:
    response = jsonify(error=message, code="unauthorized")
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@bp.before_request
def authenticate() -> Response | None:
    if _is_public():
        return None
    raw = _bearer()
    if not raw:
        return _unauthorized("Send your API token as 'Authorization: Bearer <token>'.")
    token = api_tokens.authenticate(raw)
    if token is None:
        return _unauthorized("That API token is not valid or has been revoked.")
    if db.session.dirty:
        db.session.commit()  # last_used_at moved; cheap, at most once a minute per token
    needed = api_tokens.scope_needed(request.method, request.path)
    if not token.allows(needed):
        response = jsonify(
            error=f"This token may not do that: it needs the '{needed}' scope "
            f"(it has: {', '.join(token.scope_list)}). Create a token with it in Settings.",
            code="insufficient_scope",
        )
        response.status_code = 403
        response.headers["WWW-Authenticate"] = (
            f'Bearer realm="api", error="insufficient_scope", scope="{needed}"'
        )
        return response
    g.api_token = token
    # Flask-Login's current_user is the token's user for this request, so shared helpers such as
    # owned_or_404 work unchanged; the session cookie is never consulted under /api/.
    g._login_user = token.user
    return None


def api_user() -> User:
    """The user the request's API token belongs to (only inside /api/v1 views)."""
    return g.api_token.user


# Route modules are imported at the bottom (they need `bp` above); add yours with one line.
from app.blueprints.api import analytics  # noqa: E402,F401,I001
from app.blueprints.api import export  # noqa: E402,F401
from app.blueprints.api import images  # noqa: E402,F401
from app.blueprints.api import me  # noqa: E402,F401
from app.blueprints.api import notifications  # noqa: E402,F401
from app.blueprints.api import openapi  # noqa: E402,F401
from app.blueprints.api import profile  # noqa: E402,F401
from app.blueprints.api import schedules  # noqa: E402,F401
from app.blueprints.api import sync  # noqa: E402,F401
from app.blueprints.api import webhooks  # noqa: E402,F401
