"""The public landing page and the API documentation."""

import re

from flask import Blueprint, current_app, render_template
from markupsafe import Markup, escape

from app.services import openapi

bp = Blueprint("main", __name__)


@bp.get("/")
def index():
    return render_template("main/index.html")


def _inline(text: str) -> Markup:
    """The document's descriptions use `code` and **bold**; show them as such, escaped."""
    html = str(escape(text))
    html = re.sub(r"`([^`]+)`", r"<code>\1</code>", html)
    return Markup(re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", html))


@bp.get("/api/docs")
def api_docs():
    """The JSON API's reference, rendered from the same document /api/v1/openapi.json serves."""
    spec = openapi.document()
    return render_template(
        "main/api_docs.html",
        info=spec["info"],
        auth=spec["components"]["securitySchemes"]["bearerToken"]["description"],
        inline=_inline,
        sections=openapi.docs_sections(),
        schemas=openapi.docs_schemas(),
        api_rate_limit=current_app.config["API_RATE_LIMIT"],
        auth_failure_limit=current_app.config["API_AUTH_FAILURE_RATE_LIMIT"],
    )
