import pytest

from app import create_app
from tests.conftest import make_test_config


def test_healthz_answers_without_touching_services(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_reports_every_component_ok(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "queue": "ok", "storage": "ok"}


def _app_with(app_config, **overrides):
    return create_app(make_test_config(**{**app_config, **overrides}))


@pytest.mark.services
def test_readyz_names_redis_when_it_is_down(app_config):
    broken = _app_with(app_config, REDIS_URL="redis://127.0.0.1:1/0")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["failed"] == ["queue"]
    assert response.json["checks"]["database"] == "ok"


@pytest.mark.services
def test_readyz_names_the_database_when_it_is_down(app_config):
    broken = _app_with(
        app_config, SQLALCHEMY_DATABASE_URI="postgresql+psycopg://postgres@127.0.0.1:1/none"
    )
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["failed"] == ["database"]


@pytest.mark.services
def test_readyz_names_storage_when_it_is_down(app_config):
    broken = _app_with(app_config, S3_ENDPOINT_URL="http://127.0.0.1:1")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["failed"] == ["storage"]
