"""Sync: choose images and accounts, watch a release go out live, retry, history and restore,
and the sync preferences page."""

from flask import Blueprint

bp = Blueprint("sync", __name__)

from app.blueprints.sync import preferences, routes  # noqa: E402,F401  (routes register on bp)
