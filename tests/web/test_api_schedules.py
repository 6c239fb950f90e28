"""The schedules JSON API: create, list, cancel; its 422s name the fields; other people's ids
are 404. Running schedules is tests/tasks/test_schedules.py."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.extensions import db
from app.models import ScheduledRelease, ScheduleStatus
from app.services.images import library
from tests.conftest import scheduled_jobs
from tests.images import avatar_jpeg, banner_jpeg
from tests.web.test_api_images import bearer


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


@pytest.fixture
def pat(make_user):
    return make_user(email="pat@example.com")


@pytest.fixture
def auth(pat):
    return bearer(pat)


@pytest.fixture
def images(pat):
    avatar, _ = library.create_upload(pat.id, "avatar", avatar_jpeg(seed=5), "holiday.jpg")
    banner, _ = library.create_upload(pat.id, "banner", banner_jpeg(seed=6), "snow.jpg")
    db.session.commit()
    return avatar.id, banner.id


def body(image_id, **changes):
    return {
        "avatar_id": image_id,
        "banner_id": None,
        "profile": False,
        "at": iso(timedelta(hours=1)),
        "revert_at": None,
        **changes,
    }


def test_create_list_and_cancel(app, client, auth, images):
    avatar_id, banner_id = images
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    back = at + timedelta(days=9)
    sent = {
        "avatar_id": avatar_id,
        "banner_id": banner_id,
        "profile": True,
        "at": at.isoformat().replace("+00:00", "Z"),
        "revert_at": back.astimezone(ZoneInfo("America/New_York")).isoformat(),
    }
    answer = client.post("/api/v1/schedules", json=sent, headers=auth)
    assert answer.status_code == 201
    schedule_id = answer.json["id"]
    assert answer.json == {"id": schedule_id}
    assert scheduled_jobs(app, "default") == 1  # its job waits for the time

    listed = client.get("/api/v1/schedules", headers=auth).json
    assert len(listed) == 1
    item = listed[0]
    assert item["id"] == schedule_id and item["status"] == "pending"
    assert (item["avatar_id"], item["banner_id"], item["profile"]) == (avatar_id, banner_id, True)
    assert datetime.fromisoformat(item["at"]) == at and item["at"].endswith("+00:00")
    assert datetime.fromisoformat(item["revert_at"]) == back  # the offset was used as sent
    assert item["time_zone"] == "UTC"

    cancelled = client.delete(f"/api/v1/schedules/{schedule_id}", headers=auth)
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    again = client.delete(f"/api/v1/schedules/{schedule_id}", headers=auth)
    assert again.status_code == 409
    assert client.get("/api/v1/schedules", headers=auth).json[0]["status"] == "cancelled"


def test_a_time_without_offset_is_in_the_persons_zone(client, auth, pat, images):
    pat.time_zone = "Europe/Berlin"
    db.session.commit()
    berlin = ZoneInfo("Europe/Berlin")
    wall = (datetime.now(berlin) + timedelta(days=20)).replace(
        hour=18, minute=30, second=0, microsecond=0, tzinfo=None
    )
    answer = client.post(
        "/api/v1/schedules", json=body(images[0], at=wall.isoformat()), headers=auth
    )
    assert answer.status_code == 201
    stored = db.session.get(ScheduledRelease, answer.json["id"])
    assert stored.at == wall.replace(tzinfo=berlin).astimezone(UTC)
    item = client.get("/api/v1/schedules", headers=auth).json[0]
    assert item["time_zone"] == "Europe/Berlin"
    assert item["at_local"].startswith(wall.isoformat())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"avatar_id": "1"}, "avatar_id"),
        ({"avatar_id": True}, "avatar_id"),
        ({"banner_id": -2}, "banner_id"),
        ({"avatar_id": None}, "avatar_id"),  # neither image
        ({"profile": "yes"}, "profile"),
        ({"at": None}, "at"),
        ({"at": 1767225600}, "at"),
        ({"at": "next tuesday"}, "at"),
        ({"at": "2020-01-01T10:00:00Z"}, "at"),  # in the past
        ({"at": iso(timedelta(days=400))}, "at"),
        ({"revert_at": iso(timedelta(minutes=30))}, "revert_at"),  # before "at"
        ({"revert_at": iso(timedelta(days=800))}, "revert_at"),
        ({"revert_at": 5}, "revert_at"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_fields_are_422_naming_the_field(client, auth, images, change, field):
    answer = client.post("/api/v1/schedules", json=body(images[0], **change), headers=auth)
    assert answer.status_code == 422
    assert answer.json["error"] and field in answer.json["fields"]
    assert db.session.scalar(db.select(db.func.count(ScheduledRelease.id))) == 0


def test_an_image_of_the_wrong_kind_is_a_field_error(client, auth, images):
    avatar_id, banner_id = images
    answer = client.post(
        "/api/v1/schedules", json=body(avatar_id, banner_id=avatar_id), headers=auth
    )
    assert answer.status_code == 422 and "banner_id" in answer.json["fields"]


@pytest.mark.parametrize("sent", ["not json", [1], None])
def test_a_body_that_is_not_an_object_is_422(client, auth, sent):
    if sent == "not json":
        answer = client.post("/api/v1/schedules", data="{", headers=auth)
    else:
        answer = client.post("/api/v1/schedules", json=sent, headers=auth)
    assert answer.status_code == 422 and answer.json["fields"] == {}


def test_other_peoples_ids_are_404(client, auth, make_user, images):
    other = make_user(email="other@example.com")
    theirs, _ = library.create_upload(other.id, "avatar", avatar_jpeg(seed=9))
    db.session.commit()
    answer = client.post("/api/v1/schedules", json=body(theirs.id), headers=auth)
    assert answer.status_code == 404
    mine = client.post("/api/v1/schedules", json=body(images[0]), headers=auth).json["id"]
    other_auth = bearer(other)
    assert client.delete(f"/api/v1/schedules/{mine}", headers=other_auth).status_code == 404
    assert client.get(f"/api/v1/schedules/{mine}", headers=other_auth).status_code == 404
    assert client.get("/api/v1/schedules", headers=other_auth).json == []
    assert client.delete("/api/v1/schedules/999999", headers=auth).status_code == 404
    assert db.session.get(ScheduledRelease, mine).status is ScheduleStatus.PENDING
