"""Behind a reverse proxy (Heroku's router) the app sees the real client, and only through the
number of proxies it was told to trust: forged X-Forwarded-* headers change nothing."""

from __future__ import annotations

import pytest
from flask import Flask, jsonify, request
from sqlalchemy import select

from app import create_app
from app.config import Config, ProductionConfig
from app.extensions import db
from app.models import AuditLog
from app.services.accounts import audit
from tests.conftest import CSRFClient, make_test_config

ROUTER = "10.1.2.3"  # the socket peer: the proxy itself


@pytest.fixture
def proxied(app: Flask, app_config, queue_prefix):
    """make(count): a second app on the same database and services, trusting `count` proxies."""

    def make(count: int) -> Flask:
        behind = create_app(
            make_test_config(
                **{
                    **app_config,
                    "TRUSTED_PROXY_COUNT": count,
                    "SIGN_IN_RATE_LIMIT": "2 per hour",
                    "RATELIMIT_KEY_PREFIX": f"{queue_prefix}proxy{count}",
                }
            )
        )
        behind.test_client_class = CSRFClient

        @behind.get("/_client")
        def client_seen():
            return jsonify(addr=request.remote_addr, secure=request.is_secure)

        return behind

    return make


def seen(app: Flask, **headers: str) -> dict:
    response = app.test_client().get(
        "/_client", headers=headers, environ_base={"REMOTE_ADDR": ROUTER}
    )
    return response.json


def test_the_default_trusts_no_forwarded_header():
    assert Config.TRUSTED_PROXY_COUNT == 0  # embedded and dev: nothing in front of the app
    assert ProductionConfig.TRUSTED_PROXY_COUNT == 1  # Heroku's router


def test_forged_headers_are_ignored_when_no_proxy_is_trusted(proxied):
    direct = proxied(0)
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    assert seen(direct, **forged) == {"addr": ROUTER, "secure": False}


def test_one_trusted_proxy_gives_its_right_most_hop_and_scheme(proxied):
    behind = proxied(1)
    real = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    assert seen(behind, **real) == {"addr": "203.0.113.7", "secure": True}
    # The client sent its own X-Forwarded-For; the router appended the address it really saw.
    forged = {"X-Forwarded-For": "198.51.100.66, 127.0.0.1, 203.0.113.7"}
    assert seen(behind, **forged)["addr"] == "203.0.113.7"
    assert seen(behind)["addr"] == ROUTER  # no header at all: the peer is all we know


def sign_in(app: Flask, n: int, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    response = app.test_client().post(
        "/sign-in",
        data={"email": f"nobody{n}@example.com", "password": "wrong password"},
        headers=headers,
        environ_base={"REMOTE_ADDR": ROUTER},
    )
    return response.status_code


def test_rate_limits_count_per_real_client_behind_the_proxy(proxied):
    direct = proxied(0)
    # Without a trusted proxy a new forged address each time is still the same client.
    codes = [sign_in(direct, n, forwarded_for=f"203.0.113.{n}") for n in range(3)]
    assert codes[:2] != [429, 429] and codes[2] == 429

    behind = proxied(1)
    assert sign_in(behind, 10, "198.51.100.1") != 429
    assert sign_in(behind, 11, "198.51.100.1") != 429
    # Forged entries on the left do not buy a fresh bucket ...
    assert sign_in(behind, 12, "203.0.113.50, 198.51.100.1") == 429
    # ... and another real client behind the same router is not locked out by the first.
    assert sign_in(behind, 13, "198.51.100.2") != 429


def test_audit_records_the_real_client_address(proxied, make_user):
    from tests.conftest import DEFAULT_PASSWORD

    behind = proxied(1)
    user = make_user()
    response = behind.test_client().post(
        "/sign-in",
        data={"email": user.email, "password": DEFAULT_PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.99, 203.0.113.7"},
        environ_base={"REMOTE_ADDR": ROUTER},
    )
    assert response.status_code == 302
    with behind.test_request_context():
        expected = audit.hash_ip("203.0.113.7")
    hashes = set(db.session.scalars(select(AuditLog.ip_hash).where(AuditLog.ip_hash.is_not(None))))
    assert hashes == {expected}
