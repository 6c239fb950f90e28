"""APP_ENV=production has no embedded fallbacks: it names every missing setting and stops, only
answers its own host, and builds links only from PUBLIC_URL.

These apps are built but never reach a service: /healthz and the OAuth start touch none.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from app import ConfigurationError, create_app
from app.config import ProductionConfig

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = (
    "SECRET_KEY",
    "PUBLIC_URL",
    "DATABASE_URL",
    "REDIS_URL",
    "S3_BUCKET",
    "TOKEN_ENCRYPTION_KEYS",
)

COMPLETE = {
    "SECRET_KEY": "k" * 40,
    "PUBLIC_URL": "https://linkarooie.example",
    "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://app@127.0.0.1:1/app",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "S3_BUCKET": "linkarooie-media",
    "S3_REGION": "eu-west-1",
    "TOKEN_ENCRYPTION_KEYS": "1:" + "A" * 43 + "=",
    "ALLOW_INSECURE_PLATFORM_URLS": False,
    "TESTING": True,
}


def production(**settings):
    return type("Prod", (ProductionConfig,), {**COMPLETE, **settings})


def refusal(**settings) -> str:
    with pytest.raises(ConfigurationError) as refused:
        create_app(production(**settings))
    return str(refused.value)


def test_every_missing_setting_gets_its_own_line():
    message = refusal(
        SECRET_KEY=None,
        PUBLIC_URL=None,
        SQLALCHEMY_DATABASE_URI="",
        REDIS_URL=None,
        S3_BUCKET=None,
        TOKEN_ENCRYPTION_KEYS=None,
    )
    lines = message.splitlines()[1:]
    assert [line.split()[0] for line in lines] == list(REQUIRED)


@pytest.mark.parametrize("missing", REQUIRED)
def test_one_missing_setting_is_named_alone(missing):
    key = "SQLALCHEMY_DATABASE_URI" if missing == "DATABASE_URL" else missing
    lines = refusal(**{key: None}).splitlines()[1:]
    assert len(lines) == 1 and lines[0].split()[0] == missing


@pytest.mark.parametrize("url", ["sqlite:////srv/app.db", "mysql://app@db/app"])
def test_the_database_must_be_postgresql(url):
    assert "DATABASE_URL is not a PostgreSQL URL" in refusal(SQLALCHEMY_DATABASE_URI=url)


@pytest.mark.parametrize("url", ["linkarooie.example", "https://", "ftp://linkarooie.example"])
def test_public_url_must_be_an_http_address(url):
    assert refusal(PUBLIC_URL=url).splitlines()[1].split()[0] == "PUBLIC_URL"


def test_insecure_platform_urls_are_refused_in_production():
    message = refusal(ALLOW_INSECURE_PLATFORM_URLS=True)
    assert message.splitlines()[1].split()[0] == "ALLOW_INSECURE_PLATFORM_URLS"


def test_the_real_entry_point_refuses_to_start_and_says_why(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {*REQUIRED, "APP_ENV"}}
    env.update(APP_ENV="production", INSTANCE_PATH=str(tmp_path))
    started = subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert started.returncode != 0
    for name in REQUIRED:
        assert f"  {name} " in started.stderr, started.stderr
    assert not (tmp_path / "secret_key").exists()  # no embedded fallback was made up
    assert not (tmp_path / "token_encryption_keys").exists()


def test_an_unknown_host_is_a_400_and_public_url_host_is_served():
    app = create_app(production())
    client = app.test_client()
    assert client.get("/healthz", base_url="https://linkarooie.example").status_code == 200
    forged = client.get("/healthz", base_url="https://evil.example")
    assert forged.status_code == 400 and b"ok" not in forged.data
    assert b"does not answer to that host name" in forged.data


def test_extra_trusted_hosts_can_be_listed():
    app = create_app(production(TRUSTED_HOSTS=["linkarooie.example", "www.linkarooie.example"]))
    client = app.test_client()
    assert client.get("/healthz", base_url="https://www.linkarooie.example").status_code == 200
    assert client.get("/healthz", base_url="https://evil.example").status_code == 400


def test_oauth_redirect_uri_comes_from_public_url_not_the_host_header():
    app = create_app(
        production(
            GITHUB_CLIENT_ID="client-id",
            GITHUB_CLIENT_SECRET="client-secret",
            GITHUB_AUTHORIZE_URL="https://github.test/login/oauth/authorize",
            # Whatever Host a proxy passes on, PUBLIC_URL's host is the only one answered; the
            # proxy in front may also carry another name the app is reachable by.
            TRUSTED_HOSTS=["linkarooie.example", "linkarooie.herokuapp.com"],
        )
    )
    started = app.test_client().get(
        "/auth/oauth/github/start", base_url="http://linkarooie.herokuapp.com"
    )
    assert started.status_code == 302
    query = parse_qs(urlsplit(started.headers["Location"]).query)
    assert query["redirect_uri"] == ["https://linkarooie.example/auth/oauth/github/callback"]
