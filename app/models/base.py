"""Shared column types and helpers for every model."""

import enum
from datetime import UTC, datetime

from sqlalchemy import DateTime, Enum, Text, func
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every database.

    PostgreSQL keeps the offset (timestamptz); SQLite keeps text without one and hands back naive
    values, which then cannot be compared with aware ones. Every value is stored as UTC and every
    value read comes back aware, so code never meets a naive datetime from the database.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # Our code only makes aware UTC values; a naive one (from a library) is taken as UTC.
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # SQLite compares these as text: one format (no offset) keeps ordering correct.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class TimestampMixin:
    # server_default so rows written by raw SQL or another process still get a time.
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), onupdate=func.now(), nullable=False
    )


def str_enum(cls: type[enum.StrEnum], name: str) -> Enum:
    # VARCHAR + CHECK rather than a native Postgres enum: adding a value needs no type migration.
    return Enum(
        cls, name=name, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]
    )


class EncryptedText(TypeDecorator):
    """Text stored encrypted (services/crypto.py): code reads and writes plaintext, the database
    and its dumps only ever hold "v<key version>:<ciphertext>"."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        from app.services import crypto  # the keys live in the app's config

        return None if value is None else crypto.encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        from app.services import crypto

        return None if value is None else crypto.decrypt(value)
