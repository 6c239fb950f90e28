"""The person's profile page: text fields with live platform limits, and their ordered links."""

from flask import Blueprint

bp = Blueprint("profile", __name__)

from app.blueprints.profile import routes  # noqa: E402,F401  (routes register on bp)
