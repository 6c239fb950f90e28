"""Sign in with Google, GitHub or Facebook; link and unlink those sign-in methods in Settings."""

from flask import Blueprint

bp = Blueprint("oauth", __name__, url_prefix="/auth/oauth")

from app.blueprints.oauth import pending, routes, views  # noqa: E402,F401  (routes register on bp)
