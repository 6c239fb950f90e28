"""One SECRET_KEY, a separate derived key per purpose, and SECRET_KEY_FALLBACKS for rotation:
cookies and email links signed before a rotation still work; new ones use the new key."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import pytest
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.keys import EMAIL_LINKS, IP_HASH, PURPOSES, SESSIONS, derive_key, verification_keys
from app.models import AuditLog, User
from tests.conftest import DEFAULT_PASSWORD, CSRFClient, make_test_config


def test_each_purpose_has_its_own_key():
    config = {"SECRET_KEY": "one secret"}
    keys = {purpose: derive_key(config, purpose) for purpose in PURPOSES}
    assert len(set(keys.values())) == len(PURPOSES)
    assert all(len(key) == 32 and b"one secret" not in key for key in keys.values())
    assert derive_key({"SECRET_KEY": "one secret"}, SESSIONS) == keys[SESSIONS]  # stable
    assert derive_key({"SECRET_KEY": "another"}, SESSIONS) != keys[SESSIONS]
    with pytest.raises(ValueError):
        derive_key(config, "everything")


def test_fallbacks_verify_and_the_current_key_signs():
    config = {"SECRET_KEY": "new", "SECRET_KEY_FALLBACKS": "older, oldest"}
    keys = verification_keys(config, EMAIL_LINKS)
    assert keys[-1] == derive_key(config, EMAIL_LINKS)  # itsdangerous signs with the last
    assert keys[:-1] == [
        derive_key({"SECRET_KEY": "oldest"}, EMAIL_LINKS),
        derive_key({"SECRET_KEY": "older"}, EMAIL_LINKS),
    ]


def test_a_session_signed_with_the_raw_secret_key_is_refused(
    app, client, make_user, login, new_browser
):
    login(make_user())
    with client.session_transaction() as session:
        contents = dict(session)
    forged = SecureCookieSessionInterface().get_signing_serializer(app).dumps(contents)
    browser = new_browser()
    browser.set_cookie("session", forged)
    assert browser.get("/settings").status_code == 302
    genuine = new_browser()
    genuine.set_cookie("session", client.get_cookie("session").value)
    assert genuine.get("/settings").status_code == 200


def test_addresses_are_hashed_with_their_own_key(app, client, make_user, login):
    login(make_user())
    entry = db.session.scalar(select(AuditLog).where(AuditLog.event == "sign_in"))
    raw_key = app.config["SECRET_KEY"].encode()
    assert entry.ip_hash != hmac.new(raw_key, b"127.0.0.1", hashlib.sha256).hexdigest()
    expected = hmac.new(derive_key(app, IP_HASH), b"127.0.0.1", hashlib.sha256).hexdigest()
    assert entry.ip_hash == expected


@pytest.fixture
def make_app(app_config) -> Iterator:
    """Another instance of the app on the same services, as after a deploy with new settings."""
    made = []

    def make(**overrides):
        other = create_app(make_test_config(**app_config, **overrides))
        other.test_client_class = CSRFClient
        made.append(other)
        return other

    yield make
    for other in made:
        with other.app_context():
            db.engine.dispose()


def test_rotation_keeps_sessions_and_email_links_signed_with_the_old_key(
    app, client, make_user, login, mail_sink, run_jobs, make_app
):
    user = make_user(verified=False)
    user_id, email = user.id, user.email
    login(user)
    old_cookie = client.get_cookie("session").value
    client.post("/settings/verification")
    run_jobs()
    old_link = mail_sink.link(mail_sink.last(to=email), "/verify/")

    rotated = make_app(SECRET_KEY="the brand new key", SECRET_KEY_FALLBACKS="test-secret-key")
    browser = rotated.test_client()
    browser.set_cookie("session", old_cookie)
    assert browser.get("/settings").status_code == 200  # still signed in after the rotation

    forgotten = make_app(SECRET_KEY="the brand new key")  # the old key dropped: old cookie dies
    stranger = forgotten.test_client()
    stranger.set_cookie("session", old_cookie)
    assert stranger.get("/settings").status_code == 302

    fresh = rotated.test_client()  # a sign-in after the rotation gets a cookie under the new key
    fresh.post("/sign-in", data={"email": email, "password": DEFAULT_PASSWORD})
    new_cookie = fresh.get_cookie("session").value
    for reader, status in ((rotated, 200), (forgotten, 200), (app, 302)):
        other = reader.test_client()
        other.set_cookie("session", new_cookie)
        assert other.get("/settings").status_code == status

    assert browser.get(old_link, follow_redirects=True).status_code == 200
    with app.app_context():
        db.session.expire_all()
        assert db.session.get(User, user_id).is_verified


def test_rotation_keeps_remember_me_cookies(app, client, make_user, make_app):
    user = make_user()
    client.post(
        "/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD, "remember": "y"}
    )
    remember = client.get_cookie("remember_token").value

    rotated = make_app(SECRET_KEY="the brand new key", SECRET_KEY_FALLBACKS="test-secret-key")
    browser = rotated.test_client()
    browser.set_cookie("remember_token", remember)
    assert browser.get("/settings").status_code == 200
    forgotten = make_app(SECRET_KEY="the brand new key")
    stranger = forgotten.test_client()
    stranger.set_cookie("remember_token", remember)
    assert stranger.get("/settings").status_code == 302
