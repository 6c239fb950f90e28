"""Which rows belong to a person, table by table, and which columns never leave the database.

Every table that points at `users` (directly, or through a table that does) has a Part here;
tests/services/test_export.py walks the schema's foreign keys and fails when a new table is
missing, so an export never silently leaves data behind.

Columns left out: secrets and what stands in for them (password and token hashes, session keys,
link nonces) and everything encrypted at rest (platform tokens, webhook signing secrets), the
latter by type, so a new encrypted column is left out without an edit here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, Table, select

from app.extensions import db
from app.models.base import EncryptedText


@dataclass(frozen=True)
class Part:
    table: str
    column: str = "user_id"  # what ties a row to the person (or to its parent row)
    parent: str | None = None  # the table `column` points at, when not users
    omit: tuple[str, ...] = ()
    why: str = ""  # for the README in the zip


PARTS: tuple[Part, ...] = (
    Part("users", "id", omit=("password_hash", "session_version"), why="your account"),
    Part("profiles", why="your profile and public page settings"),
    Part("handle_redirects", why="handles you gave up, still pointing to you for a while"),
    Part("images", why="every picture you uploaded, with its crop"),
    Part("image_variants", "image_id", "images", why="the files made from them per platform"),
    Part("platform_accounts", why="connected accounts (no tokens or passwords)"),
    Part("account_slots", "account_id", "platform_accounts", why="what each account last got"),
    Part("follower_counts", "account_id", "platform_accounts", why="followers per account"),
    Part("sync_requests", why="your releases (syncs)"),
    Part("sync_tasks", why="each step of each release"),
    Part("scheduled_releases", why="scheduled looks"),
    Part("sync_preferences", why="sync preferences and the drift watch"),
    Part("notification_preferences", why="which notifications you get by email"),
    Part("events", why="your notifications"),
    Part("analytics_events", why="raw analytics of your public page (hashed visitors)"),
    Part("analytics_daily", why="daily analytics counts"),
    Part("webhook_endpoints", why="your webhooks (no signing secrets)"),
    Part("webhook_deliveries", "endpoint_id", "webhook_endpoints", why="webhook deliveries"),
    Part("webhook_attempts", "delivery_id", "webhook_deliveries", why="each delivery attempt"),
    Part("audit_log", why="security events about your account (addresses hashed)"),
    Part("api_tokens", omit=("token_hash",), why="your API tokens' names, scopes and dates"),
    Part("user_sessions", omit=("key_hash",), why="signed-in sessions (addresses hashed)"),
    Part("oauth_identities", omit=("link_nonce",), why="sign-in methods (provider, subject)"),
    Part("outbox", why="mail we sent you (what about and when; not the text)"),
    Part("data_exports", why="your data exports, this one included"),
)
BY_TABLE = {part.table: part for part in PARTS}


def _table(name: str) -> Table:
    return db.metadata.tables[name]


def _owned(part: Part, user_id: int) -> ColumnElement[bool]:
    """The WHERE clause selecting `part`'s rows of the person (through its parents)."""
    column = _table(part.table).c[part.column]
    if part.parent is None:
        return column == user_id
    parent = BY_TABLE[part.parent]
    parent_table = _table(parent.table)
    return column.in_(select(parent_table.c.id).where(_owned(parent, user_id)))


def columns(part: Part) -> list:
    table = _table(part.table)
    return [c for c in table.c if c.name not in part.omit and not isinstance(c.type, EncryptedText)]


def rows(part: Part, user_id: int) -> Iterator[dict[str, Any]]:
    """The person's rows of one table, exported columns only, in primary-key order."""
    table = _table(part.table)
    query = (
        select(*columns(part))
        .where(_owned(part, user_id))
        .order_by(*table.primary_key.columns)
        .execution_options(yield_per=500)
    )
    for row in db.session.execute(query):
        yield {key: _plain(value) for key, value in row._mapping.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return None  # no binary columns today; never dump raw bytes into JSON
    return value


def dump(part: Part, user_id: int) -> Iterator[bytes]:
    """The table as a JSON array, a row at a time (a big analytics table never sits in memory)."""
    yield b"["
    for n, row in enumerate(rows(part, user_id)):
        yield (b",\n  " if n else b"\n  ") + json.dumps(row, ensure_ascii=False).encode()
    yield b"\n]\n"
