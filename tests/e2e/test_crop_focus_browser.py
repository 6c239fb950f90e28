"""The crop editor opens with its frame on the face, as a person sees it in Chromium."""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import select

from app.extensions import db
from app.models import Image
from app.services.images import focus, pipeline, presets
from tests.e2e.support import poll_until, sign_in, upload_ready, wait_js
from tests.unit import images as gen
from tests.unit import portraits


def test_the_editor_opens_on_the_face_and_save_keeps_it(
    live_server, page, make_user, run_jobs, tmp_path
):
    make_user(email="pat@example.com", name="Pat")
    sign_in(page, live_server, "pat@example.com")
    img, face = portraits.portrait(2400, 1200, (1450, 250), 900)  # her face right of centre
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(gen.jpeg(img))
    upload_ready(page, live_server, run_jobs, photo)

    page.click("#grid-avatar >> text=Crop & preview")
    page.wait_for_selector(".cropper-crop-box")
    wait_js(page, "document.querySelector('.pv canvas').width > 1")
    # the frame, in the original's pixels: where it sits on the picture the cropper shows
    frame = page.locator(".cropper-crop-box").bounding_box()
    shown = page.locator(".cropper-canvas").bounding_box()
    k = 2400 / shown["width"]
    x0, y0 = (frame["x"] - shown["x"]) * k, (frame["y"] - shown["y"]) * k
    x1, y1 = x0 + frame["width"] * k, y0 + frame["height"] * k
    assert x0 - 5 <= face.x0 and face.x1 <= x1 + 5 and y0 - 5 <= face.y0 and face.y1 <= y1 + 5
    assert x1 - x0 < 1100  # a head-and-shoulders square, not the centre's 1200 px one
    page.screenshot(path=str(tmp_path / "editor.png"))

    # the live preview (drawn from that frame) shows her face in the middle of the circle
    page.click("[data-action=zoom-in]")
    page.click("[data-action=zoom-out]")  # a live preview, not the processed file
    wait_js(page, "document.querySelector('#preview-source').textContent === 'Live preview'")
    page.wait_for_timeout(200)
    png = tmp_path / "preview.png"
    page.locator(".pv[data-preset=gravatar_avatar] .pv-main canvas").screenshot(path=str(png))
    with PILImage.open(png) as shot:
        grey = np.asarray(shot.convert("L"))
    found = focus.faces(grey)
    assert found, "no face in the live preview"
    cx = (found[0].x + found[0].w / 2) / grey.shape[1]
    assert 0.35 < cx < 0.65

    # Save as it is: the files are made from the frame the editor opened with
    page.click("#crop-save")
    page.wait_for_selector("#processed[data-status=uploaded], #processed[data-status=processing]")
    poll_until(page, run_jobs, "#processed[data-status=ready]")
    db.session.expire_all()
    image = db.session.scalars(select(Image)).one()
    first = pipeline.first_box(image.focus, presets.for_kind("avatar"), 2400, 1200)
    saved = image.crop["box"] or first.to_json()
    for key in ("x", "y", "w", "h"):
        assert abs(saved[key] - first.to_json()[key]) < 3, key
