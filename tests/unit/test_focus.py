"""Focus detection (the face or salient region) and the first crop it gives, on real portraits.

The pictures are scikit-image's astronaut pasted into larger canvases; the face positions the
tests check against were measured by eye on the original (tests/unit/portraits.py).
"""

from __future__ import annotations

import logging

import pytest
from PIL import Image

from app.services.images import focus, pipeline, presets
from app.services.images.pipeline import Box, Crop, crop_box_for, first_box, first_crop
from tests.unit import images as gen
from tests.unit import portraits

AVATARS = presets.for_kind("avatar")
BANNERS = presets.for_kind("banner")


def editor_copy(img: Image.Image) -> bytes:
    """What the job detects on: the upright copy at most 1600 px on its longest side."""
    copy = img.copy()
    copy.thumbnail((1600, 1600))
    return gen.jpeg(copy)


def detected(img: Image.Image, kind: str = "avatar") -> dict:
    return focus.detect(editor_copy(img), kind, img.width, img.height)


def overlap(found: dict, face: portraits.Rect) -> float:
    """Intersection over union of a detected box and a known face."""
    x0, y0 = max(found["x"], face.x0), max(found["y"], face.y0)
    x1 = min(found["x"] + found["w"], face.x1)
    y1 = min(found["y"] + found["h"], face.y1)
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    area = (face.x1 - face.x0) * (face.y1 - face.y0)
    return inter / (found["w"] * found["h"] + area - inter)


def test_the_face_of_an_off_centre_portrait_is_found_in_original_pixels():
    img, face = portraits.portrait(1600, 1200, (1000, 500))
    found = detected(img)
    assert found["source"] == "face"
    assert overlap(found, face) > 0.6


def test_the_avatar_opens_on_a_head_and_shoulders_square_around_the_face():
    img, face = portraits.portrait(2400, 1200, (1450, 250), 900)  # a wide photo, face right
    box = first_box(detected(img), AVATARS, 2400, 1200)
    assert box.w == pytest.approx(box.h) and face.inside(box)
    assert 2 * (face.x1 - face.x0) < box.w < 1200  # the head and shoulders, not the whole photo
    # every avatar file is cut from that square, not from the centre of the photo
    crop = first_crop(Crop(), detected(img), AVATARS, 2400, 1200)
    for preset in AVATARS:
        assert face.inside(crop_box_for(preset, crop, 2400, 1200))
    centre = crop_box_for(AVATARS[0], Crop(), 2400, 1200)
    assert not face.inside(centre)  # which the centre crop would have cut off


def test_a_face_near_the_edge_gives_a_square_shifted_inside_the_image():
    img, face = portraits.portrait(1600, 1200, (1088, 0))  # her face near the top right
    box = first_box(detected(img), AVATARS, 1600, 1200)
    assert box.x + box.w <= 1600 and box.y >= 0 and face.inside(box)


def test_of_two_faces_the_bigger_wins():
    canvas = portraits.background(2400, 1600)
    small = portraits.paste_astronaut(canvas, (150, 250), 600)
    big = portraits.paste_astronaut(canvas, (1400, 500), 900)
    found = detected(canvas)
    assert found["source"] == "face" and overlap(found, big) > 0.6
    assert overlap(found, small) == 0
    box = first_box(found, AVATARS, 2400, 1600)
    assert big.inside(box) and not small.inside(box)


def test_a_landscape_without_a_face_keeps_the_centre_crop():
    img = portraits.landscape(1600, 1000)
    found = detected(img)
    assert found == {"source": "none"}
    assert first_box(found, AVATARS, 1600, 1000) is None
    assert first_crop(Crop(), found, AVATARS, 1600, 1000) == Crop()


def test_a_banner_without_a_face_is_framed_around_its_salient_region():
    canvas = Image.new("RGB", (2000, 1500), (128, 134, 128))  # a plain wall ...
    canvas.paste(portraits.landscape(600, 400), (1300, 1000))  # ... and a cup, bottom right
    cup = portraits.Rect(1300, 1000, 1900, 1400)
    found = detected(canvas, "banner")
    assert found["source"] == "salient"
    cx, cy = found["x"] + found["w"] / 2, found["y"] + found["h"] / 2
    assert cup.x0 <= cx <= cup.x1 and cup.y0 <= cy <= cup.y1
    crop = first_crop(Crop(), found, BANNERS, 2000, 1500)
    for preset in BANNERS:  # every banner is as large as fits, as the centre crop is ...
        box = crop_box_for(preset, crop, 2000, 1500)
        assert box.w == pytest.approx(min(2000, 1500 * preset.ratio))
        # ... but moved towards the cup, as far as the image allows
        centred = crop_box_for(preset, Crop(), 2000, 1500)
        assert box.y + box.h / 2 >= centred.y + centred.h / 2
        assert box.x <= cx <= box.x + box.w and box.y <= cy <= box.y + box.h


def test_a_banner_with_a_face_is_centred_on_the_face_for_every_shape():
    img, face = portraits.portrait(3000, 1000, (1950, 0), 1000)  # a wide banner, face right
    found = detected(img, "banner")
    assert found["source"] == "face"
    crop = first_crop(Crop(), found, BANNERS, 3000, 1000)
    for preset in BANNERS:
        box = crop_box_for(preset, crop, 3000, 1000)
        assert box.w == pytest.approx(min(3000, 1000 * preset.ratio))
        assert face.inside(box), preset.key  # YouTube's 16:9 too, not its centre cut


def test_the_persons_own_crop_wins_and_a_rotated_crop_ignores_the_focus():
    found = {"x": 1100.0, "y": 560.0, "w": 100.0, "h": 100.0, "source": "face"}
    mine = Crop(Box(0, 0, 500, 500))
    assert first_crop(mine, found, AVATARS, 1600, 1200) == mine
    turned = Crop(rotate=90)  # the face was found on the picture as it was, not turned
    assert first_crop(turned, found, AVATARS, 1600, 1200) == turned
    assert first_crop(Crop(), None, AVATARS, 1600, 1200) == Crop()
    assert first_crop(Crop(), {"source": "face"}, AVATARS, 1600, 1200) == Crop()  # garbled


def test_an_upright_copy_of_a_sideways_photo_shows_the_face():
    """EXIF orientation is applied before detection: the editor copy is made upright."""
    img, face = portraits.portrait(1600, 1200, (1000, 500))
    for orientation in (6, 8):
        data = portraits.sideways_jpeg(img, orientation)
        info = pipeline.inspect(data, "avatar")
        assert (info.width, info.height) == (1600, 1200)
        copy = pipeline.make_variants(data, Crop(), [_editor(1600, 1200)])[0]
        found = focus.detect(copy.data, "avatar", info.width, info.height)
        assert found["source"] == "face" and overlap(found, face) > 0.5, orientation


def _editor(width: int, height: int) -> presets.Preset:
    return presets.Preset(
        "editor", "avatar", "linkarooie", width, height, 3_000_000, ("jpeg",), "rect", "Editor",
        fixed=False,
    )  # fmt: skip


def test_detection_failing_never_fails_the_upload(caplog):
    with caplog.at_level(logging.WARNING, logger=focus.__name__):
        assert focus.detect(b"not a picture", "avatar", 800, 600) is None
    assert "focus detection failed" in caplog.text
