"""The per-person upload throttle, shared by the web upload and the JSON API.

Counted per signed-in user (the API sets current_user from the token before views run), so a
second browser or a second token gives no fresh bucket. The limit is read from UPLOAD_RATE_LIMIT
at request time; a breach answers 429 with a sentence (a page or alert for the browser, JSON
under /api) and Retry-After.
"""

from __future__ import annotations

from flask import current_app, request
from flask_login import current_user

from app.blueprints.auth.limits import wait_phrase
from app.extensions import limiter


def _uploader() -> str:
    if current_user.is_authenticated:
        return f"upload:user:{current_user.id}"
    return f"upload:ip:{request.remote_addr or ''}"


# shared: the web upload and the API count into one bucket
upload_limit = limiter.shared_limit(
    lambda: current_app.config["UPLOAD_RATE_LIMIT"],
    scope="uploads",
    key_func=_uploader,
    methods=["POST"],
    error_message=lambda: f"Too many uploads. Please try again {wait_phrase()}.",
)
