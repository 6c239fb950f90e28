import pytest

from app import create_app
from app.config import ProductionConfig, database_url


def test_heroku_postgres_urls_are_accepted():
    assert database_url("postgres://u:p@db:5432/app") == "postgresql+psycopg://u:p@db:5432/app"
    assert database_url("postgresql://u@db/app") == "postgresql+psycopg://u@db/app"


def test_no_database_url_means_the_embedded_sqlite_file():
    assert database_url(None).startswith("sqlite:///") and database_url(None).endswith(
        "linkarooie.db"
    )


def test_production_refuses_to_start_without_a_secret_key():
    config = type(
        "Prod", (ProductionConfig,), {"SECRET_KEY": None, "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    )
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(config)


def test_production_cookies_are_secure():
    assert ProductionConfig.SESSION_COOKIE_SECURE and ProductionConfig.REMEMBER_COOKIE_SECURE
    assert (
        ProductionConfig.SESSION_COOKIE_HTTPONLY
        and ProductionConfig.SESSION_COOKIE_SAMESITE == "Lax"
    )
