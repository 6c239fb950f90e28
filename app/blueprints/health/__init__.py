"""Liveness and readiness for the platform's router and the operator."""

from flask import Blueprint, jsonify

from app.services.ops import checks

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    results = checks.run_all()
    failed = [check.name for check in results if not check.ok]
    body = {
        "status": "unavailable" if failed else "ok",
        "checks": {check.name: "ok" if check.ok else "unavailable" for check in results},
    }
    if failed:
        body["failed"] = failed
    return jsonify(body), 503 if failed else 200
