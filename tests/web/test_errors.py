"""Every caller gets errors in its own language: a page, an htmx fragment, or JSON under /api/."""

import io

import pytest
from flask import request

from app import create_app
from app.services.exceptions import Conflict
from tests.conftest import make_test_config


@pytest.fixture
def failing_app(app_config):
    app = create_app(make_test_config(**app_config, MAX_CONTENT_LENGTH=1024))

    @app.post("/boom")
    def boom():
        raise RuntimeError("secret internals")

    @app.get("/api/v1/boom")
    def api_boom():
        raise RuntimeError("secret internals")

    @app.post("/upload")
    @app.post("/api/v1/upload")
    def upload():
        return {"received": len(request.files)}

    @app.get("/conflict")
    def conflict():
        raise Conflict("That handle is already taken.")

    app.config["WTF_CSRF_ENABLED"] = False
    return app


def test_unknown_page_is_a_product_page(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"Page not found" in response.data
    assert b"<nav" in response.data and b"Back to the start" in response.data


def test_wrong_method_is_405_page_with_allow_header(client):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert b"Not allowed here" in response.data
    assert "GET" in response.headers["Allow"]


def test_unexpected_error_is_a_500_page_without_internals(failing_app):
    response = failing_app.test_client().post("/boom")
    assert response.status_code == 500
    assert b"Something went wrong" in response.data
    assert b"secret internals" not in response.data


def test_api_errors_are_json(failing_app):
    client = failing_app.test_client()
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.is_json and missing.json["error"]
    crash = client.get("/api/v1/boom")
    assert crash.status_code == 500 and crash.json["code"] == "something_went_wrong"
    assert "secret" not in crash.get_data(as_text=True)


def test_htmx_errors_are_fragments_retargeted_to_the_alert_area(failing_app):
    response = failing_app.test_client().get("/conflict", headers={"HX-Request": "true"})
    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == "#alerts"
    assert b"<html" not in response.data
    assert b"That handle is already taken." in response.data
    assert "HX-Request" in response.headers["Vary"]


def test_domain_error_is_a_full_page_without_htmx(failing_app):
    response = failing_app.test_client().get("/conflict")
    assert response.status_code == 409
    assert b"<html" in response.data and b"That handle is already taken." in response.data


def test_too_large_upload_is_413_saying_the_limit(failing_app):
    client = failing_app.test_client()

    def big_file():
        return {"file": (io.BytesIO(b"x" * 4096), "photo.jpg")}

    response = client.post("/upload", data=big_file())
    assert response.status_code == 413
    assert b"File too large" in response.data
    api = client.post("/api/v1/upload", data=big_file())
    assert api.status_code == 413 and api.is_json and "larger than" in api.json["error"]


def test_landing_page_says_what_linkarooie_does(client):
    response = client.get("/")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "One picture. Every profile." in text
    assert "htmx.min.js" in text and "X-CSRFToken" in text


def test_an_oversized_form_field_is_413_without_blaming_the_file(failing_app):
    client = failing_app.test_client()
    failing_app.config["MAX_CONTENT_LENGTH"] = 2_000_000
    form = {"note": "x" * 600_000, "file": (io.BytesIO(b"tiny"), "photo.jpg")}
    response = client.post("/upload", data=form, content_type="multipart/form-data")
    assert response.status_code == 413
    assert b"A field in that form is longer than we accept." in response.data
    assert b"larger than the" not in response.data
