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


def row_security_state() -> tuple[bool, str]:
    """Whether PostgreSQL's row-level security binds the app's role: (enforced, why in words)."""
    if db.engine.dialect.name != "postgresql":
        return False, "SQLite has no row-level security: the application's checks only."
    try:
        role, superuser, bypasses = db.session.execute(
            text(
                "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
            )
        ).one()
    except Exception as exc:  # the database check above says what is wrong
        db.session.rollback()
        log.warning("row-level security state unknown: %s", exc)
        return False, "Unknown: the database did not answer."
    if superuser or bypasses:
        what = "a superuser" if superuser else "allowed to bypass row-level security"
        return False, (
            f"Not enforced: the app connects as {role}, {what}. Connect as the database's "
            "owner (not a superuser) to have it."
        )
    return True, f"Enforced for {role}: each request sees only its person's rows."
