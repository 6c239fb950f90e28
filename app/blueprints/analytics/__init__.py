"""The analytics dashboard (/analytics) and its CSV downloads."""

from flask import Blueprint

bp = Blueprint("analytics", __name__)

from app.blueprints.analytics import routes  # noqa: E402,F401  (routes register on bp)
