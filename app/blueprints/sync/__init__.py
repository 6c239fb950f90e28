"""Sync: choose images and accounts, watch a release go out live, retry, history and restore,
the sync preferences page and scheduled looks."""

from flask import Blueprint

bp = Blueprint("sync", __name__)

from app.blueprints.sync import preferences, routes, schedules  # noqa: E402,F401  (routes register on bp)
