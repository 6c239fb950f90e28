"""Sync: choose images and accounts, watch a release go out live, retry, history and restore."""

from flask import Blueprint

bp = Blueprint("sync", __name__)

from app.blueprints.sync import routes  # noqa: E402,F401  (routes register on bp)
