"""Upload → process_image → the stored focus, and the files made before any crop is saved are
centred on the face (a real portrait: scikit-image's astronaut, tests/unit/portraits.py)."""

from __future__ import annotations

import io
import logging

import numpy as np
from PIL import Image as PILImage

from app.extensions import db
from app.models import Image, ImageStatus
from app.services.images import focus, library
from tests.images import add_user
from tests.unit import images as gen
from tests.unit import portraits


def _upload(kind: str, data: bytes, email: str = "pat@example.com") -> int:
    user = add_user(email)
    image, _ = library.create_upload(user.id, kind, data)
    db.session.commit()
    return image.id


def _reload(image_id: int) -> Image:
    db.session.expire_all()
    return db.session.get(Image, image_id)


def _face_in(app, image: Image, preset_key: str) -> tuple[float, float, float] | None:
    """Where the detector sees a face in a made file: its centre as fractions of the file's
    width and height, and its width as a fraction of the file's."""
    data = app.extensions["storage"].get(image.variant(preset_key).storage_key)
    with PILImage.open(io.BytesIO(data)) as im:
        grey = np.asarray(im.convert("L"))
    found = focus.faces(grey)
    if not found:
        return None
    f, (h, w) = found[0], grey.shape
    return (f.x + f.w / 2) / w, (f.y + f.h / 2) / h, f.w / w


def test_an_avatar_is_centred_on_the_face_before_anyone_crops_it(app, run_jobs):
    img, face = portraits.portrait(2400, 1200, (1450, 250), 900)
    image_id = _upload("avatar", gen.jpeg(img))
    assert run_jobs() == 1

    image = _reload(image_id)
    assert image.status is ImageStatus.READY and image.crop is None
    assert image.focus["source"] == "face"
    cx, cy = image.focus["x"] + image.focus["w"] / 2, image.focus["y"] + image.focus["h"] / 2
    assert face.x0 <= cx <= face.x1 and face.y0 <= cy <= face.y1
    # the files pushed without opening the editor show her head and shoulders, centred
    for key in ("gravatar_avatar", "x_avatar"):
        x, y, size = _face_in(app, image, key)
        assert 0.4 < x < 0.6 and 0.3 < y < 0.55 and size > 0.2, key


def test_a_sideways_photo_is_looked_at_upright(app, run_jobs):
    img, face = portraits.portrait(1600, 1200, (1000, 500))
    for orientation in (6, 8):
        data = portraits.sideways_jpeg(img, orientation)
        image_id = _upload("avatar", data, f"pat{orientation}@example.com")
        run_jobs()
        image = _reload(image_id)
        assert (image.width, image.height) == (1600, 1200)
        found = image.focus
        cx, cy = found["x"] + found["w"] / 2, found["y"] + found["h"] / 2
        assert face.x0 <= cx <= face.x1 and face.y0 <= cy <= face.y1, orientation
        x, y, _ = _face_in(app, image, "gravatar_avatar")
        assert 0.4 < x < 0.6 and 0.3 < y < 0.55


def test_no_face_keeps_the_centre_crop(app, run_jobs):
    image_id = _upload("avatar", gen.jpeg(portraits.landscape(1600, 1000)))
    run_jobs()
    image = _reload(image_id)
    assert image.status is ImageStatus.READY and image.focus == {"source": "none"}


def test_a_saved_crop_wins_and_saving_the_untouched_box_keeps_the_face(app, run_jobs):
    img, face = portraits.portrait(2400, 1200, (1450, 250), 900)
    image_id = _upload("avatar", gen.jpeg(img))
    run_jobs()
    found = _reload(image_id).focus

    # Save pressed without moving the box: the editor sends no box, the face still frames it
    library.save_crop(_reload(image_id), {"box": None, "rotate": 0, "overrides": {}})
    db.session.commit()
    run_jobs()
    image = _reload(image_id)
    assert image.focus == found  # looked for once, not again per crop
    x, y, _ = _face_in(app, image, "gravatar_avatar")
    assert 0.4 < x < 0.6

    # a square the person drew on the left of the photo, away from her face
    library.save_crop(image, {"box": [0, 0, 1000, 1000], "rotate": 0, "overrides": {}})
    db.session.commit()
    run_jobs()
    image = _reload(image_id)
    assert image.status is ImageStatus.READY and _face_in(app, image, "gravatar_avatar") is None


def test_a_failing_detector_never_fails_the_upload(app, run_jobs, monkeypatch, caplog):
    """The detector itself blows up (as on an odd picture): the files are made anyway,
    centred, and the focus is looked for again next time."""

    def broken(grey, kind):
        raise RuntimeError("the cascade could not run")

    monkeypatch.setattr(focus, "find", broken)
    img, _ = portraits.portrait(1600, 1200, (1000, 500))
    with caplog.at_level(logging.WARNING, logger=focus.__name__):
        image_id = _upload("avatar", gen.jpeg(img))
        run_jobs()
    image = _reload(image_id)
    assert image.status is ImageStatus.READY and image.focus is None
    assert "focus detection failed" in caplog.text
