"""The images pages: upload (htmx and plain form), validation, the polled card, library actions."""

import io
import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Image, ImageStatus
from tests.conftest import DEFAULT_PASSWORD, fetch_stored
from tests.images import HOSTILE, HOSTILE_REASONS, avatar_jpeg, banner_jpeg, stored_keys

HX = {"HX-Request": "true"}


def upload(
    client,
    data: bytes,
    kind: str = "avatar",
    name: str = "me.jpg",
    htmx: bool = True,
    content_type: str = "image/jpeg",
    **kwargs,
):
    form = {"kind": kind, "file": (io.BytesIO(data), name, content_type)}
    return client.post(
        "/images",
        data=form,
        headers=HX if htmx else {},
        content_type="multipart/form-data",
        **kwargs,
    )


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Image))


def only_image() -> Image:
    db.session.expire_all()
    return db.session.scalars(select(Image)).one()


def test_library_needs_sign_in(client):
    response = client.get("/images")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_library_page_has_a_labelled_upload_form_and_both_grids(client, pat):
    page = client.get("/images").get_data(as_text=True)
    assert 'id="upload-form"' in page and 'enctype="multipart/form-data"' in page
    assert '<label for="upload-file"' in page and 'id="upload-file"' in page
    assert 'id="upload-bar"' in page and 'id="upload-cancel"' in page
    assert 'id="grid-avatar"' in page and 'id="grid-banner"' in page
    assert "No avatars yet" in page
    assert "<script>" not in page  # no inline scripts: the CSP forbids them


def test_htmx_upload_answers_with_a_card_that_polls_until_ready(client, pat, run_jobs):
    response = upload(client, avatar_jpeg())
    assert response.status_code == 201
    card = response.get_data(as_text=True)
    image_id = only_image().id
    assert f'id="image-{image_id}"' in card and "<html" not in card
    assert "Processing" in card and 'hx-trigger="every 1s"' in card
    assert "HX-Request" in response.headers["Vary"]

    polled = client.get(f"/images/{image_id}/card", headers=HX).get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in polled  # nothing ran yet
    assert run_jobs() == 1
    ready = client.get(f"/images/{image_id}/card", headers=HX).get_data(as_text=True)
    assert "hx-trigger" not in ready and "Ready" in ready  # settled: polling stops
    thumb = re.search(r'<img src="([^"]+)"', ready).group(1).replace("&amp;", "&")
    fetched = fetch_stored(client, thumb)  # the S3 presigned URL (or /media path) works
    assert fetched.status_code == 200 and fetched.headers["Content-Type"] == "image/jpeg"
    assert "Crop &amp; preview" in ready and "Download" in ready


def test_plain_form_upload_redirects_back_with_a_message(client, pat):
    response = upload(client, banner_jpeg(), kind="banner", htmx=False)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/images?kind=banner")
    page = client.get("/images?kind=banner").get_data(as_text=True)
    assert "being prepared for every platform" in page
    assert only_image().kind.value == "banner"


def test_same_file_twice_returns_the_existing_card(client, pat):
    data = avatar_jpeg()
    first = upload(client, data)
    second = upload(client, data, name="copy.jpg")
    assert (first.status_code, second.status_code) == (201, 200)
    assert count() == 1 and len(stored_keys(client.application)) == 1


@pytest.mark.parametrize("name", list(HOSTILE))
def test_bad_files_get_a_readable_4xx_and_nothing_is_stored(client, pat, name):
    data, filename, content_type = HOSTILE[name]
    for htmx in (True, False):
        response = upload(client, data, name=filename, content_type=content_type, htmx=htmx)
        assert response.status_code in (400, 413, 415, 422), response.status_code
        assert HOSTILE_REASONS[name] in response.get_data(as_text=True)
        if htmx:  # shown in the page's alert area
            assert response.headers["HX-Retarget"] == "#alerts"
    assert count() == 0 and stored_keys(client.application) == set()


def test_request_over_the_size_limit_is_413(client, pat, monkeypatch):
    monkeypatch.setitem(client.application.config, "MAX_CONTENT_LENGTH", 100_000)
    response = upload(client, avatar_jpeg(1200, seed=4) + b"\0" * 200_000)
    assert response.status_code == 413
    assert "larger than" in response.get_data(as_text=True)
    assert count() == 0


def test_missing_file_or_kind_is_a_400_with_a_reason(client, pat):
    no_file = client.post("/images", data={"kind": "avatar"}, headers=HX)
    assert no_file.status_code == 400 and "Choose an image file" in no_file.get_data(as_text=True)
    bad_kind = upload(client, avatar_jpeg(), kind="poster")
    assert bad_kind.status_code == 400 and "avatar or a banner" in bad_kind.get_data(as_text=True)


def test_upload_without_csrf_token_is_refused(client, pat):
    form = {"kind": "avatar", "file": (io.BytesIO(avatar_jpeg()), "a.jpg")}
    response = client.post("/images", data=form, csrf=False)
    assert response.status_code == 400 and count() == 0


def test_set_current_swaps_the_grid(client, pat):
    upload(client, avatar_jpeg(seed=1))
    upload(client, avatar_jpeg(seed=2))
    first, second = db.session.scalars(select(Image).order_by(Image.id)).all()
    assert first.is_current
    response = client.post(f"/images/{second.id}/current", headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.startswith('<div id="grid-avatar"')
    assert html.count("Current avatar") == 1
    db.session.expire_all()
    assert second.is_current and not first.is_current


def test_deleting_the_current_image_asks_first(client, pat, run_jobs):
    upload(client, avatar_jpeg())
    image = only_image()
    card = client.get(f"/images/{image.id}/card", headers=HX).get_data(as_text=True)
    assert "hx-confirm=" in card  # htmx asks in the browser

    step = client.post(f"/images/{image.id}/delete")  # no JavaScript: a confirmation page
    assert step.status_code == 200 and "Delete your current avatar?" in step.get_data(as_text=True)
    assert count() == 1

    done = client.post(f"/images/{image.id}/delete", data={"confirm": "yes"})
    assert done.status_code == 303 and count() == 0
    run_jobs()  # the files go in a job, not in the request
    assert stored_keys(client.application) == set()


def test_htmx_delete_of_another_image_removes_the_card_and_its_files(client, pat, run_jobs):
    upload(client, avatar_jpeg(seed=1))
    upload(client, avatar_jpeg(seed=2))
    run_jobs()  # (the in-process worker ends the test's session: load rows afterwards)
    spare = db.session.scalars(select(Image).where(Image.is_current.is_(False))).one()
    keep = db.session.scalars(select(Image).where(Image.is_current.is_(True))).one()
    kept = {keep.original_key, keep.preview_key, *(v.storage_key for v in keep.variants)}
    spare_key = spare.original_key
    response = client.post(f"/images/{spare.id}/delete", headers=HX)
    assert response.status_code == 200 and response.get_data() == b""
    assert run_jobs() == 1  # the files go in a job, not in the request
    assert stored_keys(client.application) == kept and spare_key not in kept


def test_download_is_an_attachment_for_the_owner_only(client, pat, make_user, run_jobs):
    upload(client, avatar_jpeg())
    run_jobs()
    image = only_image()
    variant = image.variant("x_avatar")
    response = client.get(f"/images/{image.id}/download/x_avatar")
    assert response.status_code == 200 and response.mimetype == variant.mime
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="linkarooie-avatar-x_avatar.jpg"'
    )
    assert response.data == client.application.extensions["storage"].get(variant.storage_key)
    assert client.get(f"/images/{image.id}/download/nope").status_code == 404


def test_other_peoples_images_are_404_everywhere(client, pat, make_user, run_jobs):
    upload(client, avatar_jpeg())
    run_jobs()
    image = only_image()
    make_user(email="sam@example.com", name="Sam")
    client = client.application.test_client()  # Sam, in another browser
    sam = {"email": "sam@example.com", "password": DEFAULT_PASSWORD}
    signed_in = client.post("/sign-in", data=sam)
    assert signed_in.status_code == 302
    base = f"/images/{image.id}"
    for method, url in [
        ("get", f"{base}/card"),
        ("get", f"{base}/crop"),
        ("post", f"{base}/crop"),
        ("post", f"{base}/current"),
        ("post", f"{base}/delete"),
        ("get", f"{base}/download/x_avatar"),
    ]:
        assert getattr(client, method)(url).status_code == 404, url
    assert "No avatars yet" in client.get("/images").get_data(as_text=True)
    assert count() == 1 and only_image().status is ImageStatus.READY


def test_embedded_local_storage_serves_variants_from_media(client, pat, local_storage, run_jobs):
    upload(client, avatar_jpeg())
    run_jobs()
    image = only_image()
    card = client.get(f"/images/{image.id}/card", headers=HX).get_data(as_text=True)
    thumb = re.search(r'<img src="([^"]+)"', card).group(1)
    assert thumb.startswith("/media/variants/")
    served = client.get(thumb)
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert served.data == local_storage.get(image.variant("thumb_avatar_256").storage_key)
