"""Timestamps come back timezone-aware UTC from SQLite too (the embedded default)."""

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select

from app.models.base import UTCDateTime


def _table():
    metadata = MetaData()
    table = Table(
        "t", metadata, Column("id", Integer, primary_key=True), Column("at", UTCDateTime())
    )
    return metadata, table


def test_sqlite_returns_aware_utc_that_compares_with_now():
    metadata, table = _table()
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    paris = timezone(timedelta(hours=1))
    written = datetime(2025, 1, 2, 15, 30, tzinfo=paris)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, at=written))
        conn.execute(insert(table).values(id=2, at=datetime(2025, 1, 2, 14, 0)))  # naive: UTC
        rows = dict(conn.execute(select(table.c.id, table.c.at)).all())
        earlier = conn.execute(
            select(table.c.id).where(table.c.at < datetime(2025, 1, 2, 14, 15, tzinfo=UTC))
        ).scalars()
        assert list(earlier) == [2]
    assert rows[1] == written and rows[1].tzinfo is UTC
    assert rows[2] == datetime(2025, 1, 2, 14, 0, tzinfo=UTC)
    assert datetime.now(UTC) - rows[1] > timedelta(0)  # the 500 on SQLite was this subtraction
