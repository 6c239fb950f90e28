"""Headless Chromium against the live app: upload with progress, crop, previews, processed files.

Jobs run with run_jobs() (a real RQ worker on Redis) from the test thread while the page polls;
files live on the real S3 server. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image as PILImage
from PIL import ImageChops, ImageStat
from sqlalchemy import select

from app.extensions import db
from app.models import Image
from app.services.images import pipeline, presets
from tests.e2e.support import poll_until, sign_in, throttle, wait_js
from tests.unit import images as gen

CROP_JS = Path(__file__).resolve().parents[2] / "app/static/js/crop.js"


def save_crop(page, run_jobs) -> None:
    """Save the crop, let the worker make the files, and wait until every preview shows them.

    The status of the previous revision stays in the page (hidden, still "ready") until the
    save's answer replaces it, so wait for the new pending status before polling for "ready".
    """
    page.click("#crop-save")
    page.wait_for_selector("#processed[data-status=uploaded], #processed[data-status=processing]")
    poll_until(page, run_jobs, "#processed[data-status=ready]")
    wait_js(
        page,
        "document.querySelectorAll('.pv[data-showing=processed]').length"
        " === document.querySelectorAll('.pv').length",
    )


def preview(page, preset_key: str) -> PILImage.Image:
    """The desktop preview canvas of one preset, as the person sees it."""
    page.wait_for_timeout(150)  # one animation frame for the redraw
    png = page.locator(f".pv[data-preset={preset_key}] .pv-main canvas").screenshot()
    return PILImage.open(io.BytesIO(png)).convert("RGB")


def difference(a: PILImage.Image, b: PILImage.Image) -> float:
    """Mean absolute difference per channel (0-255); a shifted or turned crop scores 40+."""
    return sum(ImageStat.Stat(ImageChops.difference(a, b.resize(a.size))).mean) / 3


@pytest.fixture
def photo_files(tmp_path):
    """A big phone-like photo (downscaled in the browser before sending) and a banner."""
    big = tmp_path / "holiday.jpg"
    big.write_bytes(gen.jpeg(gen.photo(5200, 3900, seed=11), quality=95))
    banner = tmp_path / "mountains.jpg"
    banner.write_bytes(gen.jpeg(gen.photo(2400, 900, seed=5), quality=90))
    return big, banner


def test_upload_crop_preview_and_processed_files(
    live_server, page, make_user, run_jobs, photo_files
):
    big, banner_file = photo_files
    problems: list[str] = []  # console errors include CSP violations
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            problems.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    make_user(email="pat@example.com", name="Pat")
    sign_in(page, live_server, "pat@example.com")
    page.goto(f"{live_server}/images")
    page.shot("1-empty-library")

    # 1. A cancelled upload leaves nothing behind.
    throttle(page, upload=150_000)
    page.set_input_files("#upload-file", str(big))
    wait_js(page, "document.getElementById('upload-bar').value > 0")
    page.shot("2-uploading")
    page.click("#upload-cancel")
    page.wait_for_selector("text=Upload cancelled.")
    assert page.locator("#upload-progress").is_hidden()
    assert db.session.scalar(select(db.func.count()).select_from(Image)) == 0

    # 2. The same photo again, to the end: scaled down in the browser, progress bar to 100%.
    throttle(page, upload=1_500_000)
    page.set_input_files("#upload-file", str(big))
    try:
        page.wait_for_selector(
            "#grid-avatar .image-card[data-status=uploaded], "
            "#grid-avatar .image-card[data-status=processing]",
            timeout=30_000,
        )
    except Exception:
        page.shot("debug")
        raise AssertionError(problems) from None
    assert page.locator("#upload-progress").is_hidden()
    card = page.locator("#grid-avatar .image-card").first
    assert "Processing" in card.inner_text()
    page.shot("3-processing")
    db.session.expire_all()
    image = db.session.scalars(select(Image)).one()
    assert max(image.width, image.height) == 4096 and image.bytes < big.stat().st_size
    throttle(page)

    poll_until(page, run_jobs, "#grid-avatar .image-card[data-status=ready] .image-thumb img")
    wait_js(page, "document.querySelector('#grid-avatar .image-thumb img').naturalWidth > 0")
    page.shot("4-ready")

    # 3. The avatar editor: circle/rounded/square previews follow the crop.
    page.click("#grid-avatar >> text=Crop & preview")
    page.wait_for_selector(".cropper-crop-box")
    wait_js(page, "document.querySelector('.pv canvas').width > 1")
    assert page.locator("[data-showing=processed]").count() > 0  # default crop: real files already
    page.click("[data-action=rotate-right]")
    page.click("[data-action=zoom-in]")
    page.click("[data-action=zoom-in]")
    assert page.locator("#preview-source").inner_text() == "Live preview"
    box = page.locator(".cropper-crop-box").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 - 60, box["y"] + box["height"] / 2 - 30, steps=5)
    page.mouse.up()
    crop = json.loads(page.input_value("#crop-value"))
    assert crop["box"] and crop["rotate"] == 90
    page.shot("5-avatar-editor")
    live = {key: preview(page, key) for key in ("x_avatar", "mastodon_avatar")}

    save_crop(page, run_jobs)
    assert page.locator("#preview-source").inner_text() == "Processed files"
    page.shot("6-avatar-processed")
    for key, before in live.items():  # what the browser previewed is what the pipeline made
        assert difference(before, preview(page, key)) < 12, key
        # (the measure notices a wrong turn: the same preview rotated scores far above that)
        assert difference(before, before.transpose(PILImage.Transpose.ROTATE_90)) > 30
    db.session.expire_all()
    saved = db.session.scalars(select(Image)).one()
    assert saved.revision == 2 and saved.crop["box"]["w"] == pytest.approx(crop["box"]["w"])

    # 4. A banner: one focal area, every platform's shape around it, one preset adjusted.
    page.goto(f"{live_server}/images")
    page.check("input[name=kind][value=banner]")
    page.set_input_files("#upload-file", str(banner_file))
    page.wait_for_selector("#grid-banner .image-card")
    poll_until(page, run_jobs, "#grid-banner .image-card[data-status=ready] .image-thumb img")
    page.click("#grid-banner >> text=Crop & preview")
    page.wait_for_selector(".cropper-crop-box")
    wait_js(page, "document.querySelector('.pv-overlap img')?.naturalWidth > 0")
    page.shot("7-banner-editor")

    page.click(".pv[data-preset=youtube_banner] [data-action=adjust]")
    assert page.locator("#override-bar").is_visible()
    box = page.locator(".cropper-crop-box").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 80, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    page.click("[data-action=override-done]")
    assert page.locator(".pv[data-preset=youtube_banner] .pv-adjusted").is_visible()
    crop = json.loads(page.input_value("#crop-value"))
    assert set(crop["overrides"]) == {"youtube_banner"}
    page.shot("8-banner-adjusted")
    compared = ("youtube_banner", "x_banner", "manual_linkedin_banner")
    live = {key: preview(page, key) for key in compared}

    save_crop(page, run_jobs)
    page.shot("9-banner-processed")
    for key, before in live.items():
        assert difference(before, preview(page, key)) < 12, key

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_selector(".cropper-crop-box")
    page.shot("10-banner-editor-mobile")
    page.goto(f"{live_server}/images")
    page.shot("11-library-mobile")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390  # no sideways scroll
    assert problems == []


def test_library_actions_and_a_refused_file(live_server, page, make_user, run_jobs, tmp_path):
    files = []
    for seed in (1, 2):
        path = tmp_path / f"face-{seed}.png"
        path.write_bytes(gen.png(gen.photo(640, 640, seed=seed)))
        files.append(path)
    svg = tmp_path / "logo.png"  # an SVG wearing a .png name: the server reads the bytes
    svg.write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg" width="900" height="900"/>')
    make_user(email="pat@example.com", name="Pat")
    sign_in(page, live_server, "pat@example.com")
    page.goto(f"{live_server}/images")

    page.set_input_files("#upload-file", str(svg))
    page.wait_for_selector("#alerts .alert-error")
    assert "not a supported image" in page.inner_text("#alerts")
    page.shot("1-refused")

    for path in files:
        page.set_input_files("#upload-file", str(path))
        page.wait_for_selector(f"#grid-avatar .image-card:has-text('{path.name}')")
    poll_until(page, run_jobs, "#grid-avatar .image-card[data-status=ready] >> nth=1")
    first = page.locator("#grid-avatar .image-card:has-text('face-1.png')")
    second = page.locator("#grid-avatar .image-card:has-text('face-2.png')")
    assert "Current avatar" in first.inner_text()

    second.get_by_role("button", name="Use as avatar").click()
    page.wait_for_selector("#grid-avatar .image-card.is-current:has-text('face-2.png')")
    second.locator("summary", has_text="Download").click()
    assert second.get_by_role("link", name=re.compile("X avatar")).is_visible()
    page.shot("2-current-and-downloads")
    with page.expect_download() as download:
        second.get_by_role("link", name=re.compile("Bluesky avatar")).click()
    assert download.value.suggested_filename == "linkarooie-avatar-bluesky_avatar.jpg"

    # choosing a file closed the menu
    assert second.get_by_role("link", name=re.compile("X avatar")).is_hidden()
    messages = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    second.get_by_role("button", name="Delete").click()
    page.wait_for_selector("#grid-avatar .image-card:has-text('face-2.png')", state="detached")
    assert messages and "current avatar" in messages[0]
    first.get_by_role("button", name="Delete").click()  # not current: no question asked
    page.wait_for_selector("#grid-avatar .image-card", state="detached")
    db.session.expire_all()
    assert db.session.scalar(select(db.func.count()).select_from(Image)) == 0


CASES = [
    ({"box": None, "rotate": 0, "overrides": {}}, 1800, 700),
    ({"box": {"x": 600, "y": 100, "w": 600, "h": 300}, "rotate": 0, "overrides": {}}, 1800, 700),
    ({"box": {"x": -50, "y": 500, "w": 400, "h": 400}, "rotate": 90, "overrides": {}}, 1800, 700),
    (
        {
            "box": {"x": 10, "y": 10, "w": 100, "h": 900},
            "rotate": 0,
            "overrides": {"youtube_banner": {"x": 0, "y": 0, "w": 500, "h": 100}},
        },
        4000,
        1000,
    ),
    ({"box": {"x": 300, "y": 0, "w": 3000, "h": 20}, "rotate": 270, "overrides": {}}, 1200, 5000),
]


def test_browser_derivation_matches_the_pipeline(page):
    """crop.js's cropBoxFor must give the boxes pipeline.crop_box_for gives."""
    source = CROP_JS.read_text()
    body = re.search(r"(function cropBoxFor\(.*?\n  \})\n", source, re.S).group(1)
    for crop_json, width, height in CASES:
        crop = pipeline.Crop.from_json(crop_json)
        for preset in presets.PRESETS:
            expected = pipeline.crop_box_for(preset, crop, width, height).to_json()
            got = page.evaluate(
                f"([p, c, w, h]) => {{ {body}; return cropBoxFor(p, c, w, h); }}",
                [presets.as_dict(preset), crop_json, width, height],
            )
            assert got == pytest.approx(expected, abs=1e-6), (preset.key, crop_json)
