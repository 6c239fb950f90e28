"""The readiness checks (database, queue, storage), each timed: /readyz and the admin page."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import text

from app.extensions import db

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    ms: float
    error: str | None = None


def _database() -> None:
    db.session.execute(text("SELECT 1"))


def _queue() -> None:
    current_app.extensions["jobs"].ping()


def _storage() -> None:
    current_app.extensions["storage"].ping()


CHECKS = {"database": _database, "queue": _queue, "storage": _storage}


def run_all() -> list[Check]:
    results = []
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
            error = None
        except Exception as exc:  # any failure means "not ready"; the reason goes to the log
            db.session.rollback()
            log.warning("readiness check %s failed: %s", name, exc)
            error = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        results.append(Check(name, error is None, (time.perf_counter() - started) * 1000, error))
    return results
