"""Throttling: sign-in per account and per address, sign-up, mails; 429 + Retry-After."""

from __future__ import annotations

import pytest

from tests.conftest import DEFAULT_PASSWORD


@pytest.fixture
def limits(app):
    """Set small limits for one test (they are read from settings on every request)."""
    saved = dict(app.config)

    def set_limits(**values: str) -> None:
        app.config.update(values)

    yield set_limits
    for key in (
        "SIGN_IN_RATE_LIMIT",
        "SIGN_IN_ACCOUNT_RATE_LIMIT",
        "SIGN_UP_RATE_LIMIT",
        "EMAIL_RATE_LIMIT",
        "API_AUTH_FAILURE_RATE_LIMIT",
    ):
        app.config[key] = saved[key]


def assert_throttled(response, words: bytes) -> None:
    assert response.status_code == 429
    retry = int(response.headers["Retry-After"])
    assert 0 < retry <= 3600
    assert words in response.data
    assert b"Please try again in" in response.data  # says when, in words


def test_failed_sign_ins_lock_the_account_not_the_person(app, client, make_user, limits):
    limits(SIGN_IN_ACCOUNT_RATE_LIMIT="3 per 15 minutes")
    user = make_user()
    make_user(email="bob@example.com", name="Bob")
    for _ in range(3):
        assert (
            client.post(
                "/sign-in", data={"email": user.email, "password": "wrong guess!"}
            ).status_code
            == 422
        )
    blocked = client.post(
        "/sign-in", data={"email": "Alice@Example.com", "password": DEFAULT_PASSWORD}
    )
    assert_throttled(blocked, b"Too many failed sign-ins for this account.")
    # Another account from the same address is unaffected.
    other = client.post("/sign-in", data={"email": "bob@example.com", "password": DEFAULT_PASSWORD})
    assert other.status_code == 302


def test_successful_sign_ins_do_not_count_against_the_account(app, client, make_user, limits):
    limits(SIGN_IN_ACCOUNT_RATE_LIMIT="2 per 15 minutes")
    user = make_user()
    for _ in range(4):
        assert (
            client.post(
                "/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD}
            ).status_code
            == 302
        )
        client.post("/sign-out")


def test_sign_in_attempts_per_address(app, client, make_user, limits):
    limits(SIGN_IN_RATE_LIMIT="4 per minute")
    for n in range(4):
        client.post("/sign-in", data={"email": f"user{n}@example.com", "password": "whatever123"})
    blocked = client.post("/sign-in", data={"email": "x@example.com", "password": "whatever123"})
    assert_throttled(blocked, b"Too many sign-in attempts.")
    assert client.get("/sign-in").status_code == 200  # reading the form is never throttled


def test_sign_ups_per_address(client, limits):
    limits(SIGN_UP_RATE_LIMIT="2 per hour")
    for n in range(2):
        client.post(
            "/sign-up",
            data={"name": "N", "email": f"n{n}@example.com", "password": "plenty long passphrase"},
        )
        client.post("/sign-out")
    blocked = client.post(
        "/sign-up",
        data={"name": "N", "email": "n9@example.com", "password": "plenty long passphrase"},
    )
    assert_throttled(blocked, b"Too many new accounts from your network.")


def test_verification_mails_per_user(client, make_user, login, limits):
    limits(EMAIL_RATE_LIMIT="2 per 15 minutes")
    login(make_user(verified=False))
    for _ in range(2):
        assert client.post("/settings/verification").status_code == 302
    blocked = client.post("/settings/verification", headers={"HX-Request": "true"})
    assert_throttled(blocked, b"We have sent several emails already.")
    assert blocked.headers["HX-Retarget"] == "#alerts"  # htmx shows it in the alert area


@pytest.mark.parametrize(
    "spelling",
    [
        "alice@\uff45xample.com",
        "\uff41lice@example.com",
        " ALICE@EXAMPLE.COM ",
        "alice@Example.com",
    ],
)
def test_another_spelling_of_a_locked_account_is_still_locked(client, make_user, limits, spelling):
    limits(SIGN_IN_ACCOUNT_RATE_LIMIT="3 per 15 minutes")
    user = make_user()
    for _ in range(3):
        client.post("/sign-in", data={"email": user.email, "password": "wrong guess!"})

    blocked = client.post("/sign-in", data={"email": spelling, "password": DEFAULT_PASSWORD})

    assert_throttled(blocked, b"Too many failed sign-ins for this account.")


def test_full_width_spelling_signs_in_to_the_same_account(client, make_user):
    user = make_user()
    done = client.post(
        "/sign-in", data={"email": "alice@\uff45xample.com", "password": DEFAULT_PASSWORD}
    )
    assert done.status_code == 302
    with client.session_transaction() as session:
        assert session["_user_id"].split(":")[0] == str(user.id)


def test_failed_api_tokens_are_limited_per_client_address(app, client, make_user, limits):
    limits(API_AUTH_FAILURE_RATE_LIMIT="3 per minute")
    for n in range(3):  # a different guess every time: each would be a fresh per-token bucket
        guess = client.get("/api/v1/me", headers={"Authorization": f"Bearer lk_guess{n}"})
        assert guess.status_code == 401
    blocked = client.get("/api/v1/me", headers={"Authorization": "Bearer lk_guess9"})
    assert blocked.status_code == 429 and blocked.is_json
    assert "Too many failed API authentications" in blocked.json["error"]
    assert int(blocked.headers["Retry-After"]) > 0
    other = client.get(
        "/api/v1/me",
        headers={"Authorization": "Bearer lk_guess10"},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert other.status_code == 401  # another address has its own allowance


def test_successful_api_calls_do_not_count_as_failures(app, client, make_user, limits):
    from app.extensions import db
    from app.services.accounts import api_tokens

    limits(API_AUTH_FAILURE_RATE_LIMIT="2 per minute")
    _, raw = api_tokens.create_token(make_user(), "ok")
    db.session.commit()
    for _ in range(5):
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
        )
