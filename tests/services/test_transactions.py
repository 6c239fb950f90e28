"""Savepoints behave the same on both databases: releasing one never commits the outer work."""

from app.extensions import db
from app.models import User


def test_a_released_savepoint_is_undone_by_the_outer_rollback(app):
    # On SQLite a SAVEPOINT opened before any other write used to start the transaction itself,
    # so releasing it committed: the outer rollback then left the row behind.
    with db.session.begin_nested():
        db.session.add(User(email="inner@example.com"))
    db.session.rollback()
    assert db.session.scalars(db.select(User.email)).all() == []


def test_a_rolled_back_savepoint_keeps_the_work_before_it(app):
    db.session.add(User(email="before@example.com"))
    db.session.flush()
    savepoint = db.session.begin_nested()
    db.session.add(User(email="inside@example.com"))
    db.session.flush()
    savepoint.rollback()
    db.session.commit()
    assert db.session.scalars(db.select(User.email)).all() == ["before@example.com"]
