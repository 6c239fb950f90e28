"""Whose rows the database shows: PostgreSQL row-level security under the ownership checks.

Every table that holds a person's data has a policy (migration 0021_row_level_security) that
shows a row only when it belongs to the transaction's `app.user_id`, or when the transaction
says `app.bypass = on`. FORCE ROW LEVEL SECURITY makes that hold for the table's owner too,
which is the role the app connects as on a managed one-role database. So a query that forgot
its `user_id == …` filter still returns only the signed-in person's rows.

Each request starts as nobody (no rows); loading the signed-in person, or the owner of a public
page, narrows it to that person (`act_as`). Code that must see across people (sign-in by email,
workers' sweeps, admin pages, the CLI) says so with `bypass(reason)`, which is logged with its
reason. Both are settings of the current transaction (`set_config(..., true)`, i.e. SET LOCAL):
applied when a transaction begins and again when the scope changes inside one, and gone at
commit or rollback, so a pooled connection never carries one person's scope to the next user.

On SQLite (the embedded profile) there is no row-level security; the application's ownership
checks are the only guard there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

_SET = "SELECT set_config('app.user_id', %s, true), set_config('app.bypass', %s, true)"

# Whose rows this unit of work (a request, a job) sees, and why it sees everyone's (if it does).
# Two variables, so a bypass block ending does not undo whom the request identified inside it.
_user: ContextVar[int | None] = ContextVar("row_security_user", default=None)
_bypass: ContextVar[str | None] = ContextVar("row_security_bypass", default=None)


def settings() -> tuple[str, str]:
    """The transaction settings for the current scope: (app.user_id, app.bypass)."""
    user_id = _user.get()
    return ("" if user_id is None else str(user_id), "on" if _bypass.get() else "")


def install(engine: Engine) -> None:
    """Give every transaction on `engine` the scope of the code that opened it (PostgreSQL)."""
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "begin")
    def scope_transaction(conn: Connection) -> None:
        # Straight on the driver's cursor: the statement runs inside the transaction being
        # begun, without going through (and re-entering) SQLAlchemy's execution events.
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(_SET, settings())
        finally:
            cursor.close()


def _apply_to_open_transaction() -> None:
    """A scope change inside an open transaction takes effect for its next statement."""
    from app.extensions import db

    try:
        session = db.session()
    except RuntimeError:  # no application context: no session to scope
        return
    if not session.in_transaction() or session.get_bind().dialect.name != "postgresql":
        return
    user_id, bypassing = settings()
    session.execute(
        text("SELECT set_config('app.user_id', :u, true), set_config('app.bypass', :b, true)"),
        {"u": user_id, "b": bypassing},
    )


def start(*, bypass: str | None = None) -> tuple[Token, Token]:
    """Begin a unit of work (a request, a job) seeing nobody's rows, or everyone's for
    `bypass` (logged); pass the result to `finish`."""
    if bypass:
        _log_bypass(bypass)
    tokens = (_user.set(None), _bypass.set(bypass))
    _apply_to_open_transaction()
    return tokens


def finish(tokens: tuple[Token, Token]) -> None:
    _user.reset(tokens[0])
    _bypass.reset(tokens[1])
    _apply_to_open_transaction()


def act_as(user_id: int | None) -> None:
    """From here on, this unit of work sees `user_id`'s rows (None: nobody's)."""
    _user.set(user_id)
    _apply_to_open_transaction()


def only(user_id: int) -> None:
    """From here on, this unit of work sees `user_id`'s rows only, even if it started with a
    bypass: a job that found whose work it is narrows itself to that person."""
    _user.set(user_id)
    _bypass.set(None)
    _apply_to_open_transaction()


@contextmanager
def bypass(reason: str) -> Iterator[None]:
    """See every person's rows inside the block, for `reason` (logged)."""
    _log_bypass(reason)
    token = _bypass.set(reason)
    _apply_to_open_transaction()
    try:
        yield
    finally:
        _bypass.reset(token)
        _apply_to_open_transaction()


@contextmanager
def as_user(user_id: int) -> Iterator[None]:
    """See only `user_id`'s rows inside the block, whatever the scope outside."""
    tokens = (_user.set(user_id), _bypass.set(None))
    _apply_to_open_transaction()
    try:
        yield
    finally:
        finish(tokens)


def _log_bypass(reason: str) -> None:
    log.info("row security bypass", extra={"event": "rls_bypass", "reason": reason})
