"""Images, read from outside: what a URL gives away, what an upload request costs, what a
re-upload repairs. Web pages and the JSON API, on the real services."""

from __future__ import annotations

import io

import pytest
import requests
from PIL import Image as PILImage
from sqlalchemy import func, select

from app.extensions import db
from app.infra.storage import InvalidStorageKey, content_hashed_key
from app.models import Image, ImageStatus
from app.services.accounts import api_tokens
from app.services.images import library, pipeline, presets
from tests.images import CORRUPT_REASON, avatar_jpeg, gps_jpeg, stored_keys, truncated_jpeg

HX = {"HX-Request": "true"}


def bearer(user) -> dict[str, str]:
    _, raw = api_tokens.create_token(user, "tests")
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def upload(client, data: bytes, kind: str = "avatar", headers: dict | None = None, api=False):
    return client.post(
        "/api/v1/images" if api else "/images",
        data={"kind": kind, "file": (io.BytesIO(data), "photo.jpg", "image/jpeg")},
        headers=headers if headers is not None else HX,
        content_type="multipart/form-data",
    )


def only_image() -> Image:
    db.session.expire_all()
    return db.session.scalars(select(Image)).one()


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Image))


# --- 2. no URL answers whether someone else uploaded the same bytes ---------------------------


def test_nobody_can_probe_for_an_upload_by_its_bytes(client, pat, local_storage, run_jobs):
    data = avatar_jpeg(700, seed=21)
    assert upload(client, data).status_code == 201
    run_jobs()
    image = only_image()
    assert image.status is ImageStatus.READY

    # Sam holds the same photo and computes every name a content-hashed store would use.
    avatar = presets.for_kind("avatar")
    first = pipeline.first_crop(pipeline.Crop(), image.focus, avatar, image.width, image.height)
    made = pipeline.make_variants(data, first, avatar)
    x_avatar = next(v for v in made if v.preset_key == "x_avatar")
    guesses = [
        content_hashed_key("originals", data, "jpg"),
        content_hashed_key("variants", x_avatar.data, "jpg"),
    ]
    client.post("/sign-out")
    for key in guesses:
        assert client.get(f"/media/{key}").status_code == 404
    # while pat's own file is served under a key nobody can compute from the bytes
    mine = image.variant("x_avatar").storage_key
    assert mine not in guesses and client.get(f"/media/{mine}").data == x_avatar.data


# --- 3. re-uploading after the stored original went missing ---------------------------------


@pytest.mark.parametrize("when", ["after it was processed", "after the job failed"])
def test_uploading_again_after_the_original_went_missing_stores_and_processes_it(
    client, pat, run_jobs, when
):
    data = avatar_jpeg(seed=31)
    assert upload(client, data).status_code == 201
    storage = client.application.extensions["storage"]
    original_key = only_image().original_key
    if when == "after it was processed":
        run_jobs()
        storage.delete(original_key)  # lost behind our back
    else:
        storage.delete(original_key)
        run_jobs()
        assert only_image().error == library.ORIGINAL_MISSING

    again = upload(client, data)
    assert again.status_code == 200  # the same image, not a new one
    assert storage.get(only_image().original_key) == data
    run_jobs()
    image = only_image()
    assert image.status is ImageStatus.READY and image.error is None
    assert {v.preset_key for v in image.variants} == {p.key for p in presets.for_kind("avatar")}
    assert all(storage.exists(v.storage_key) for v in image.variants)


# --- 6. upload requests stay cheap ----------------------------------------------------------


def test_uploads_are_rate_limited_per_person_across_web_and_api(client, pat, monkeypatch):
    monkeypatch.setitem(client.application.config, "UPLOAD_RATE_LIMIT", "2 per hour")
    assert upload(client, avatar_jpeg(seed=1)).status_code == 201
    assert upload(client, avatar_jpeg(seed=2), api=True, headers=bearer(pat)).status_code == 202

    page = upload(client, avatar_jpeg(seed=3), headers={})
    assert page.status_code == 429 and "Too many uploads" in page.get_data(as_text=True)
    assert page.headers["Retry-After"]
    fresh_token = bearer(pat)  # a new token is no fresh bucket
    api = upload(client, avatar_jpeg(seed=4), api=True, headers=fresh_token)
    assert api.status_code == 429 and "Too many uploads" in api.get_json()["error"]
    assert count() == 2


def test_the_storage_quota_refuses_with_413_and_stores_nothing(client, pat, monkeypatch):
    monkeypatch.setitem(client.application.config, "STORAGE_QUOTA_MB", 1)
    assert upload(client, avatar_jpeg(seed=1)).status_code == 201
    big = _png(1400)  # about 2.5 MB on its own
    keys = stored_keys(client.application)

    page = upload(client, big, headers={})
    assert page.status_code == 413
    assert "Delete images you no longer need" in page.get_data(as_text=True)
    alert = upload(client, big)  # the upload script's htmx request gets an alert fragment
    assert alert.status_code == 413 and "<html" not in alert.get_data(as_text=True)
    assert "Delete images you no longer need" in alert.get_data(as_text=True)
    api = upload(client, big, api=True, headers=bearer(pat))
    assert api.status_code == 413 and api.get_json()["code"] == "quota_exceeded"
    assert "of your 1 MB of storage" in api.get_json()["error"]
    assert count() == 1 and stored_keys(client.application) == keys


def test_a_damaged_file_is_accepted_cheaply_and_the_job_fails_it_with_a_reason(
    client, pat, run_jobs
):
    response = upload(client, truncated_jpeg())  # a whole header over half the pixels
    assert response.status_code == 201  # the request read only the header
    assert run_jobs() == 1
    card = client.get(f"/images/{only_image().id}/card", headers=HX).get_data(as_text=True)
    assert only_image().status is ImageStatus.FAILED
    assert CORRUPT_REASON in card


def test_an_image_past_the_memory_budget_is_refused_with_a_reason(client, pat, monkeypatch):
    monkeypatch.setitem(client.application.config, "IMAGE_MEMORY_BUDGET_MB", 50)
    cmyk = _cmyk_jpeg(3000)  # 9 megapixels (under the pixel limit) in a few hundred KB
    api = upload(client, cmyk, api=True, headers=bearer(pat))
    assert api.status_code == 422
    assert "needs about 69 MB of memory" in api.get_json()["error"]
    assert "the limit is 50 MB" in api.get_json()["error"]
    page = upload(client, cmyk)
    assert page.status_code == 422 and "needs about 69 MB" in page.get_data(as_text=True)
    assert count() == 0 and stored_keys(client.application) == set()


def test_the_job_refuses_an_image_past_the_budget_instead_of_running_out_of_memory(
    client, pat, run_jobs, monkeypatch
):
    assert upload(client, _cmyk_jpeg(3000)).status_code == 201  # within the default budget
    monkeypatch.setitem(client.application.config, "IMAGE_MEMORY_BUDGET_MB", 50)  # lowered since
    assert run_jobs() == 1
    image = only_image()
    assert image.status is ImageStatus.FAILED and "needs about 69 MB of memory" in image.error


# --- 7. metadata stays in private storage ---------------------------------------------------


def test_served_files_carry_no_exif_and_the_original_is_never_served(
    client, pat, local_storage, run_jobs
):
    assert upload(client, gps_jpeg()).status_code == 201
    run_jobs()
    image = only_image()
    with PILImage.open(io.BytesIO(local_storage.get(image.original_key))) as original:
        assert original.getexif().get_ifd(0x8825)  # the original keeps its GPS, privately

    assert client.get(f"/media/{image.original_key}").status_code == 404
    with pytest.raises(InvalidStorageKey):
        local_storage.url(image.original_key)
    served = [image.preview_key, *(v.storage_key for v in image.variants)]
    for key in served:
        response = client.get(local_storage.url(key))
        assert response.status_code == 200
        _assert_no_metadata(response.data)


@pytest.mark.services  # S3 presigned URLs
def test_s3_urls_of_every_file_carry_no_exif(client, pat, run_jobs):
    auth = bearer(pat)
    image_id = upload(client, gps_jpeg(), api=True, headers=auth).get_json()["id"]
    run_jobs()
    body = client.get(f"/api/v1/images/{image_id}", headers=auth).get_json()
    assert body["variants"]
    for variant in body["variants"]:
        _assert_no_metadata(requests.get(variant["url"], timeout=10).content)


def _assert_no_metadata(data: bytes) -> None:
    assert b"SecretCam" not in data and b"SERIAL-12345" not in data
    with PILImage.open(io.BytesIO(data)) as im:
        assert not im.getexif().get_ifd(0x8825)
        assert "exif" not in im.info


def _png(size: int) -> bytes:
    from tests.unit import images as gen

    return gen.png(gen.photo(size, size, seed=3))


def _cmyk_jpeg(size: int) -> bytes:
    out = io.BytesIO()
    PILImage.new("CMYK", (size, size), (10, 20, 30, 40)).save(out, "JPEG", quality=50)
    return out.getvalue()
