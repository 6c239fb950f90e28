"""The crop editor page: what the browser gets, and saving a crop re-runs the pipeline."""

import html
import io
import json
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Image, ImageStatus
from app.services.images import presets
from tests.images import avatar_jpeg, banner_jpeg

HX = {"HX-Request": "true"}


def uploaded(client, run_jobs, kind: str, data: bytes) -> int:
    form = {"kind": kind, "file": (io.BytesIO(data), f"{kind}.jpg")}
    assert client.post("/images", data=form, headers=HX).status_code == 201
    assert run_jobs() == 1
    db.session.expire_all()
    return db.session.scalars(select(Image).where(Image.kind == kind)).one().id


def data_attr(page: str, name: str):
    raw = re.search(rf"{name}='([^']*)'", page).group(1)
    return json.loads(html.unescape(raw))


def test_crop_page_gives_the_editor_its_presets_and_the_upright_copy(client, pat, run_jobs):
    image_id = uploaded(client, run_jobs, "banner", banner_jpeg())
    page = client.get(f"/images/{image_id}/crop").get_data(as_text=True)

    assert "vendor/cropper/cropper.min.js" in page and "js/crop.js" in page
    assert "<script>" not in page and " style=" not in page  # the CSP allows neither
    assert 'data-width="1800" data-height="700"' in page
    shown = data_attr(page, "data-presets")
    banner_keys = [p.key for p in presets.for_kind("banner") if p.platform != "linkarooie"]
    assert [p["key"] for p in shown] == banner_keys
    x = next(p for p in shown if p["key"] == "x_banner")
    assert (x["width"], x["height"], x["safe_zone"], x["avatar_overlap"]) == (
        1500,
        500,
        [1500, 380],
        [40, 333, 334],
    )
    for key in banner_keys:  # one preview per platform, each with its own adjust button
        assert f'data-preset="{key}"' in page
    assert page.count('data-action="adjust"') == len(banner_keys)
    image = db.session.get(Image, image_id)
    assert image.preview_key in html.unescape(page)  # the cropper loads the editor copy
    variants = data_attr(page, "data-variants")  # ready: previews can show the real files
    assert set(variants) == {v.preset_key for v in image.variants}


def test_avatar_page_has_zoom_rotate_and_masked_previews(client, pat, run_jobs):
    image_id = uploaded(client, run_jobs, "avatar", avatar_jpeg())
    page = client.get(f"/images/{image_id}/crop").get_data(as_text=True)
    for action in ("zoom-in", "zoom-out", "rotate-left", "rotate-right"):
        assert f'data-action="{action}"' in page
    assert "mask-circle" in page and "mask-rounded" in page and "mask-square" in page
    assert 'data-action="adjust"' not in page  # one square serves every avatar


def test_saving_a_crop_reprocesses_and_the_partial_polls_until_ready(client, pat, run_jobs):
    image_id = uploaded(client, run_jobs, "banner", banner_jpeg())
    old = {v.preset_key: v.storage_key for v in db.session.get(Image, image_id).variants}
    crop = {
        "box": {"x": 600, "y": 100, "w": 600, "h": 300},
        "rotate": 0,
        "overrides": {"youtube_banner": {"x": 0, "y": 0, "w": 1244.44, "h": 700}},
    }

    response = client.post(f"/images/{image_id}/crop", data={"crop": json.dumps(crop)}, headers=HX)
    partial = response.get_data(as_text=True)
    assert response.status_code == 200 and partial.startswith('<div id="processed"')
    assert 'hx-trigger="every 1s"' in partial and "Making your files" in partial
    polled = client.get(f"/images/{image_id}/crop", headers=HX).get_data(as_text=True)
    assert polled.startswith('<div id="processed"') and "hx-trigger" in polled

    assert run_jobs() == 2  # the new files, then the job deleting the old ones
    done = client.get(f"/images/{image_id}/crop", headers=HX).get_data(as_text=True)
    assert "hx-trigger" not in done and "Files ready" in done
    db.session.expire_all()
    image = db.session.get(Image, image_id)
    assert image.status is ImageStatus.READY and image.crop["overrides"]["youtube_banner"]["x"] == 0
    new = {v.preset_key: v.storage_key for v in image.variants}
    assert new.keys() == old.keys() and new["x_banner"] != old["x_banner"]


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("not json", "could not be read"),
        ('["a"]', "must be a JSON object"),
        ('{"box": {"x": 5000, "y": 0, "w": 10, "h": 10}}', "outside the image"),
        ('{"rotate": 45}', "multiple of 90"),
        ('{"overrides": {"x_avatar": [0, 0, 10, 10]}}', "Unknown preset"),
    ],
)
def test_bad_crops_are_422_with_a_reason(client, pat, run_jobs, raw, reason):
    image_id = uploaded(client, run_jobs, "banner", banner_jpeg())
    response = client.post(f"/images/{image_id}/crop", data={"crop": raw}, headers=HX)
    assert response.status_code == 422 and reason in response.get_data(as_text=True)
    db.session.expire_all()
    image = db.session.get(Image, image_id)
    assert image.revision == 1 and image.status is ImageStatus.READY


def test_crop_page_before_processing_says_so_and_polls_the_card(client, pat):
    form = {"kind": "avatar", "file": (io.BytesIO(avatar_jpeg()), "a.jpg")}
    client.post("/images", data=form, headers=HX)
    image_id = db.session.scalars(select(Image)).one().id
    page = client.get(f"/images/{image_id}/crop").get_data(as_text=True)
    assert "still preparing this image" in page and 'hx-trigger="every 1s"' in page
    assert 'id="crop-app"' not in page
