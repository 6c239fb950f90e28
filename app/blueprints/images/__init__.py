"""Images: the library (upload, list, set current, delete, download) and the crop editor."""

from flask import Blueprint

bp = Blueprint("images", __name__)

from app.blueprints.images import routes  # noqa: E402,F401  (routes register on bp)
