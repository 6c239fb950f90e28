"""The event stream: written with the change it reports, handed to consumers after commit."""

import pytest

from app.extensions import db
from app.models import Event
from app.services.notifications import events


@pytest.fixture
def seen(monkeypatch):
    handed: list[tuple[int, str, dict]] = []
    monkeypatch.setattr(
        events, "_CONSUMERS", [lambda event: handed.append((event.id, event.type, event.data))]
    )
    return handed


def test_consumers_get_each_committed_event_once(app, make_user, run_jobs, seen):
    user = make_user()
    event = events.emit(user.id, "image.ready", image_id=7)
    db.session.commit()
    assert run_jobs() == 1
    assert seen == [(event.id, "image.ready", {"image_id": 7})]

    events.emit(user.id, "drift.detected", account_id=1)
    db.session.rollback()  # the change it reported did not happen: neither did the event
    assert run_jobs() == 0 and db.session.query(Event).count() == 1
    assert len(seen) == 1


def test_unknown_types_are_refused(app, make_user):
    with pytest.raises(ValueError):
        events.emit(make_user().id, "release.maybe")


def test_the_in_app_list_unread_count_and_marking_read(app, make_user, seen):
    user, other = make_user(), make_user(email="other@example.com")
    first = events.emit(user.id, "drift.detected", account_id=1)
    second = events.emit(user.id, "release.completed", release_id=2)
    events.emit(other.id, "drift.detected", account_id=3)
    db.session.commit()
    assert events.unread_count(user.id) == 2
    assert [e.id for e in events.latest(user.id)] == [second.id, first.id]
    assert [e.id for e in events.latest(user.id, before=second.id)] == [first.id]
    assert events.mark_read(other.id, first.id) == 0  # not theirs
    assert events.mark_read(user.id, first.id) == 1
    assert events.unread_count(user.id) == 1
    assert events.mark_read(user.id) == 1 and events.unread_count(user.id) == 0
    assert events.unread_count(other.id) == 1
