"""Connections: the person's platform accounts (connect, reconnect, disconnect)."""

from flask import Blueprint

bp = Blueprint("connections", __name__)

from app.blueprints.connections import display, routes  # noqa: E402,F401  (they register on bp)
