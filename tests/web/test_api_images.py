"""The images JSON API with a real personal token: the contract, validation, ownership."""

import io

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Image
from app.services.accounts import api_tokens
from app.services.images import presets
from tests.conftest import fetch_stored
from tests.images import HOSTILE, HOSTILE_REASONS, avatar_jpeg, banner_jpeg, stored_keys


def bearer(user) -> dict[str, str]:
    _, raw = api_tokens.create_token(user, "tests")
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def auth(make_user, run_jobs):
    headers = bearer(make_user(email="pat@example.com"))
    run_jobs()  # the new token's security notice, so the tests count only their own jobs
    return headers


def post_image(
    client,
    auth,
    data: bytes,
    kind: str = "avatar",
    name: str = "a.jpg",
    content_type: str = "image/jpeg",
):
    return client.post(
        "/api/v1/images",
        headers=auth,
        content_type="multipart/form-data",
        data={"kind": kind, "file": (io.BytesIO(data), name, content_type)},
    )


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Image))


def test_token_is_required(client):
    response = client.get("/api/v1/images")
    assert response.status_code == 401 and "error" in response.get_json()


def test_upload_is_202_then_the_image_reports_its_variants(client, auth, run_jobs):
    response = post_image(client, auth, banner_jpeg(), kind="banner")
    assert response.status_code == 202
    body = response.get_json()
    assert body == {"id": body["id"], "kind": "banner", "status": "uploaded"}

    assert run_jobs() == 1
    image = client.get(f"/api/v1/images/{body['id']}", headers=auth).get_json()
    fields = {"id", "kind", "status", "current", "width", "height", "error", "focus", "variants"}
    assert set(image) == fields
    assert image["current"] is True  # a person's first banner becomes the current one
    assert (image["status"], image["width"], image["height"], image["error"]) == (
        "ready",
        1800,
        700,
        None,
    )
    by_preset = {v["preset"]: v for v in image["variants"]}
    assert set(by_preset) == {p.key for p in presets.for_kind("banner")}
    x = by_preset["x_banner"]
    assert set(x) == {"preset", "width", "height", "bytes", "format", "url"}
    assert (x["width"], x["height"], x["format"]) == (1500, 500, "jpeg")
    fetched = fetch_stored(client, x["url"])  # a working S3 (or /media) URL
    assert fetched.status_code == 200 and len(fetched.content) == x["bytes"]

    listing = client.get("/api/v1/images", headers=auth).get_json()
    assert [i["id"] for i in listing] == [body["id"]]


def test_same_bytes_again_returns_the_same_id(client, auth):
    data = avatar_jpeg()
    first = post_image(client, auth, data).get_json()
    again = post_image(client, auth, data).get_json()
    assert first["id"] == again["id"] and count() == 1


@pytest.mark.parametrize("name", list(HOSTILE))
def test_bad_files_are_4xx_json_with_a_reason_and_store_nothing(client, auth, name):
    data, filename, content_type = HOSTILE[name]
    response = post_image(client, auth, data, name=filename, content_type=content_type)
    assert response.status_code in (400, 413, 415, 422)
    assert HOSTILE_REASONS[name] in response.get_json()["error"]
    assert count() == 0 and stored_keys(client.application) == set()


def test_missing_fields_and_oversize_requests_are_4xx_json(client, auth, monkeypatch):
    no_kind = client.post(
        "/api/v1/images", headers=auth, data={"file": (io.BytesIO(avatar_jpeg()), "a.jpg")}
    )
    assert no_kind.status_code == 400 and "avatar or a banner" in no_kind.get_json()["error"]
    no_file = client.post("/api/v1/images", headers=auth, data={"kind": "avatar"})
    assert no_file.status_code == 400 and "Choose an image file" in no_file.get_json()["error"]
    not_multipart = client.post("/api/v1/images", headers=auth, json={"kind": "avatar"})
    assert not_multipart.status_code == 400 and not_multipart.get_json()["error"]

    monkeypatch.setitem(client.application.config, "MAX_CONTENT_LENGTH", 50_000)
    too_big = post_image(client, auth, avatar_jpeg(1000) + b"\0" * 60_000)
    assert too_big.status_code == 413 and "larger than" in too_big.get_json()["error"]
    assert count() == 0


def test_another_users_image_is_404_and_delete_is_204(client, auth, make_user, run_jobs):
    image_id = post_image(client, auth, avatar_jpeg()).get_json()["id"]
    sam = bearer(make_user(email="sam@example.com"))
    run_jobs()
    assert client.get(f"/api/v1/images/{image_id}", headers=sam).status_code == 404
    assert client.delete(f"/api/v1/images/{image_id}", headers=sam).status_code == 404
    assert client.get("/api/v1/images", headers=sam).get_json() == []
    assert stored_keys(client.application)  # untouched

    response = client.delete(f"/api/v1/images/{image_id}", headers=auth)
    assert response.status_code == 204 and response.data == b""
    assert count() == 0 and run_jobs() == 1  # the files go in a job, not in the request
    assert stored_keys(client.application) == set()
    assert client.get(f"/api/v1/images/{image_id}", headers=auth).status_code == 404


def test_making_an_image_current_is_what_a_null_sync_pushes(client, auth, run_jobs):
    first = post_image(client, auth, avatar_jpeg(seed=1)).get_json()["id"]
    second = post_image(client, auth, avatar_jpeg(seed=2)).get_json()["id"]
    run_jobs()
    listed = {i["id"]: i["current"] for i in client.get("/api/v1/images", headers=auth).json}
    assert listed == {first: True, second: False}
    for _ in range(2):  # idempotent
        made = client.post(f"/api/v1/images/{second}/current", headers=auth)
        assert made.status_code == 200 and made.json["current"] is True
    listed = {i["id"]: i["current"] for i in client.get("/api/v1/images", headers=auth).json}
    assert listed == {first: False, second: True}
    assert client.post("/api/v1/images/999999/current", headers=auth).status_code == 404


def test_another_persons_image_cannot_be_made_current(client, auth, make_user):
    other = bearer(make_user(email="other@example.com"))
    theirs = post_image(client, other, avatar_jpeg(seed=5)).get_json()["id"]
    answer = client.post(f"/api/v1/images/{theirs}/current", headers=auth)
    assert answer.status_code == 404 and "error" in answer.json


def test_presets_list_matches_the_pipeline(client, auth):
    body = client.get("/api/v1/presets", headers=auth).get_json()
    assert len(body) == len(presets.PRESETS)
    assert all(
        set(p) == {"key", "kind", "platform", "width", "height", "max_bytes", "formats"}
        for p in body
    )
    x = next(p for p in body if p["key"] == "x_avatar")
    assert x == {
        "key": "x_avatar",
        "kind": "avatar",
        "platform": "x",
        "width": 400,
        "height": 400,
        "max_bytes": 690_000,
        "formats": ["jpeg", "png"],
    }
