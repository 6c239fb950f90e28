"""The scheduled looks page: times are entered and shown in the person's zone and stored in
UTC; field errors keep what was typed; Cancel works with htmx and without."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.extensions import db
from app.models import ScheduledRelease, ScheduleStatus, User
from app.services.images import library
from tests.images import avatar_jpeg, banner_jpeg

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def pat(make_user, login):
    user = make_user(email="pat@example.com")
    login(user)
    return user


@pytest.fixture
def holiday(pat):
    avatar, _ = library.create_upload(pat.id, "avatar", avatar_jpeg(seed=5), "holiday.jpg")
    banner, _ = library.create_upload(pat.id, "banner", banner_jpeg(seed=6), "snow.jpg")
    db.session.commit()
    return avatar.id, banner.id


def wall(days: int, hour: int) -> datetime:
    """A Berlin wall-clock time `days` ahead (naive, as a datetime-local input sends it)."""
    ahead = datetime.now(BERLIN) + timedelta(days=days)
    return ahead.replace(hour=hour, minute=0, second=0, microsecond=0, tzinfo=None)


def test_times_are_entered_and_shown_in_the_persons_zone(client, pat, holiday):
    page = client.get("/sync/schedules")
    assert page.status_code == 200
    assert b"Nothing is scheduled yet" in page.data
    assert b"data-detect" in page.data  # no zone chosen yet: the browser's is preselected
    assert b'<option value="Europe/Berlin">' in page.data

    at, back = wall(10, 18), wall(25, 9)
    answer = client.post(
        "/sync/schedules",
        data={
            "avatar_id": str(holiday[0]),
            "banner_id": "",
            "at": at.strftime("%Y-%m-%dT%H:%M"),
            "revert_at": back.strftime("%Y-%m-%dT%H:%M"),
            "time_zone": "Europe/Berlin",
        },
    )
    assert answer.status_code == 303
    stored = db.session.scalar(db.select(ScheduledRelease))
    assert stored.at == at.replace(tzinfo=BERLIN).astimezone(UTC)
    assert stored.revert_at == back.replace(tzinfo=BERLIN).astimezone(UTC)
    assert (stored.avatar_image_id, stored.banner_image_id) == (holiday[0], None)
    assert db.session.get(User, pat.id).time_zone == "Europe/Berlin"

    page = client.get("/sync/schedules").get_data(as_text=True)
    assert at.strftime("%d %b %Y, 18:00 ") in page  # Berlin time, as entered
    assert back.strftime("%d %b %Y, 09:00 ") in page
    assert "Times are in Europe/Berlin" in page and "data-detect" not in page
    assert 'data-status="pending"' in page and "holiday.jpg" in page


def test_field_errors_keep_what_was_typed(client, pat, holiday):
    at = wall(3, 12).strftime("%Y-%m-%dT%H:%M")
    answer = client.post(
        "/sync/schedules",
        data={
            "avatar_id": str(holiday[0]),
            "at": at,
            "revert_at": "2020-01-01T10:00",
            "time_zone": "Europe/Berlin",
        },
    )
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "Choose a time after the look goes out." in page
    assert f'value="{at}"' in page and 'aria-invalid="true"' in page
    assert db.session.scalar(db.select(db.func.count(ScheduledRelease.id))) == 0

    for data, message in [
        ({"at": at, "time_zone": "Mars/Olympus"}, "Choose a time zone from the list."),
        (
            {"avatar_id": "", "banner_id": "", "at": at},
            "Choose an avatar, a banner or your profile text.",
        ),
        ({"at": "yesterday-ish"}, "Enter a date and time such as"),
        ({"avatar_id": "abc", "at": at}, "Choose the images from the list."),
    ]:
        answer = client.post("/sync/schedules", data={"avatar_id": str(holiday[0]), **data})
        assert answer.status_code == 422 and message in answer.get_data(as_text=True)


def test_cancel_with_htmx_and_without(client, pat, holiday):
    for _ in range(2):
        client.post(
            "/sync/schedules",
            data={"banner_id": str(holiday[1]), "at": wall(5, 8).strftime("%Y-%m-%dT%H:%M")},
        )
    first, second = db.session.scalars(db.select(ScheduledRelease.id).order_by("id")).all()

    row = client.post(f"/sync/schedules/{first}/cancel", headers={"HX-Request": "true"})
    assert row.status_code == 200
    html = row.get_data(as_text=True)
    assert html.startswith("<li") or 'id="schedule-' in html
    assert 'data-status="cancelled"' in html and "<html" not in html
    assert "/cancel" not in html  # nothing left to cancel

    assert client.post(f"/sync/schedules/{second}/cancel").status_code == 303
    db.session.expire_all()
    statuses = {s.status for s in db.session.scalars(db.select(ScheduledRelease))}
    assert statuses == {ScheduleStatus.CANCELLED}
    again = client.post(f"/sync/schedules/{second}/cancel", headers={"HX-Request": "true"})
    assert again.status_code == 409
    assert client.post(f"/sync/schedules/{second}/cancel", csrf=False).status_code == 400


def test_the_sync_page_and_nav_link_to_schedules(client, pat, holiday):
    page = client.get("/sync").get_data(as_text=True)
    assert 'href="/sync/schedules"' in page
