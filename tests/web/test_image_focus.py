"""The crop editor opens on the face the job found, and the API says where it is."""

from __future__ import annotations

from app.extensions import db
from app.models import Image
from tests.unit import images as gen
from tests.unit import portraits
from tests.web.test_api_images import bearer, post_image
from tests.web.test_images_crop import data_attr, uploaded


def test_the_editor_opens_on_a_square_around_the_face(client, pat, run_jobs):
    img, face = portraits.portrait(2400, 1200, (1450, 250), 900)
    image_id = uploaded(client, run_jobs, "avatar", gen.jpeg(img))
    page = client.get(f"/images/{image_id}/crop").get_data(as_text=True)

    first = data_attr(page, "data-first-box")
    assert first["w"] == first["h"] < 1200  # head and shoulders, not the largest square
    assert first["x"] <= face.x0 and face.x1 <= first["x"] + first["w"]
    assert first["y"] <= face.y0 and face.y1 <= first["y"] + first["h"]
    assert data_attr(page, "data-crop") == {}  # nothing saved: the person's crop is still open


def test_without_a_face_the_editor_keeps_the_centre(client, pat, run_jobs):
    image_id = uploaded(client, run_jobs, "avatar", gen.jpeg(portraits.landscape(1600, 1000)))
    page = client.get(f"/images/{image_id}/crop").get_data(as_text=True)
    assert data_attr(page, "data-first-box") is None


def test_the_api_reports_the_focus(client, make_user, run_jobs):
    auth = bearer(make_user(email="sam@example.com"))
    img, face = portraits.portrait(1600, 1200, (1000, 500))
    image_id = post_image(client, auth, gen.jpeg(img)).json["id"]
    run_jobs()
    body = client.get(f"/api/v1/images/{image_id}", headers=auth).json
    found = body["focus"]
    assert found["source"] == "face" and set(found) == {"x", "y", "w", "h", "source"}
    assert found["x"] < face.x1 and face.x0 < found["x"] + found["w"]

    none = post_image(client, auth, gen.jpeg(portraits.landscape(1600, 1000)), name="b.jpg")
    run_jobs()
    assert db.session.get(Image, none.json["id"]).focus == {"source": "none"}
    assert client.get(f"/api/v1/images/{none.json['id']}", headers=auth).json["focus"] is None
