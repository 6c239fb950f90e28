"""Liveness and readiness for the platform's router and the operator."""

import logging

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from app.extensions import db

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    checks = {
        "database": lambda: db.session.execute(text("SELECT 1")),
        "queue": lambda: current_app.extensions["jobs"].ping(),
        "storage": lambda: current_app.extensions["storage"].ping(),
    }
    results, failed = {}, []
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure means "not ready"; the reason goes to the log
            db.session.rollback()
            log.warning("readiness check %s failed: %s", name, exc)
            results[name] = "unavailable"
            failed.append(name)
    status = 503 if failed else 200
    body = {"status": "unavailable" if failed else "ok", "checks": results}
    if failed:
        body["failed"] = failed
    return jsonify(body), status
