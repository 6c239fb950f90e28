"""Forgot/reset password and email links: no account probing, expiry, single use, sessions end."""

from __future__ import annotations

from datetime import timedelta

from app.extensions import db
from app.models import User
from app.services.accounts import tokens
from tests.conftest import DEFAULT_PASSWORD

NEW_PASSWORD = "velvet otter harmonica"


def test_forgot_password_does_not_reveal_accounts(client, make_user, mail_sink, run_jobs):
    make_user(email="alice@example.com")
    known = client.post("/forgot-password", data={"email": "alice@example.com"})
    unknown = client.post("/forgot-password", data={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200

    def body(response, email):
        return response.get_data(as_text=True).replace(email, "EMAIL")

    assert body(known, "alice@example.com") == body(unknown, "nobody@example.com")
    run_jobs()
    assert mail_sink.to("nobody@example.com") == []
    message = mail_sink.last(to="alice@example.com")
    assert message["Subject"] == "Reset your password"
    assert "expires in 1 hour" in mail_sink.text(message)


def test_reset_sets_the_password_once_and_ends_other_sessions(
    app, client, make_user, login, mail_sink, run_jobs
):
    user = make_user()
    user_id, email = user.id, user.email  # run_jobs() ends the test's session: keep plain values
    laptop = app.test_client()  # another device, signed in before the reset
    laptop.post(
        "/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD, "remember": "y"}
    )
    assert laptop.get("/settings").status_code == 200

    client.post("/forgot-password", data={"email": email})
    run_jobs()
    link = mail_sink.link(mail_sink.last(to=email), "/reset-password/")
    form = client.get(link)
    assert form.status_code == 200 and b"Choose a new password" in form.data

    weak = client.post(link, data={"password": "1234567890"})
    assert weak.status_code == 422 and b"too common" in weak.data
    done = client.post(link, data={"password": NEW_PASSWORD})
    assert done.status_code == 302
    assert client.get("/settings").status_code == 200  # the resetting browser is signed in

    # The laptop's session and its remember-me cookie are both dead now.
    assert laptop.get("/settings").status_code == 302
    laptop.delete_cookie("session")
    assert laptop.get("/settings").status_code == 302

    reused = client.get(link)
    assert reused.status_code == 400 and b"already been used" in reused.data
    assert client.post(link, data={"password": "another fine password"}).status_code == 400

    client.post("/sign-out")
    old = client.post("/sign-in", data={"email": "alice@example.com", "password": DEFAULT_PASSWORD})
    assert old.status_code == 422
    login(db.session.get(User, user_id), password=NEW_PASSWORD)


def test_reset_link_expires_after_an_hour(client, make_user):
    user = make_user()
    issued = tokens.utcnow() - timedelta(minutes=61)
    stale = tokens.make_token(user, tokens.RESET, now=issued)
    fresh = tokens.make_token(user, tokens.RESET, now=tokens.utcnow() - timedelta(minutes=59))

    expired = client.get(f"/reset-password/{stale}")
    assert expired.status_code == 400
    assert b"This link has expired" in expired.data
    assert b'href="/forgot-password"' in expired.data  # with the way forward
    assert (
        client.post(f"/reset-password/{stale}", data={"password": NEW_PASSWORD}).status_code == 400
    )
    assert client.get(f"/reset-password/{fresh}").status_code == 200


def test_verification_link_expires_after_24_hours(client, make_user):
    user = make_user(verified=False)
    stale = tokens.make_token(
        user, tokens.VERIFY, now=tokens.utcnow() - timedelta(hours=24, minutes=1)
    )
    response = client.get(f"/verify/{stale}")
    assert response.status_code == 400 and b"expired" in response.data
    assert not db.session.get(User, user.id).is_verified
    fresh = tokens.make_token(user, tokens.VERIFY, now=tokens.utcnow() - timedelta(hours=23))
    assert client.get(f"/verify/{fresh}").status_code == 200  # signed out: asks first
    assert client.post(f"/verify/{fresh}").status_code == 302


def test_tampered_or_cross_purpose_links_are_refused(client, make_user):
    user = make_user(verified=False)
    verify = tokens.make_token(user, tokens.VERIFY)
    assert client.get(f"/reset-password/{verify}").status_code == 400  # wrong purpose
    assert client.get(f"/verify/{verify[:-2]}xx").status_code == 400
    assert client.get("/verify/garbage").status_code == 400


def test_reset_requests_are_throttled_with_retry_after(client, make_user, app):
    make_user()
    limit = int(app.config["EMAIL_RATE_LIMIT"].split()[0])
    for _ in range(limit):
        assert (
            client.post("/forgot-password", data={"email": "alice@example.com"}).status_code == 200
        )
    throttled = client.post("/forgot-password", data={"email": "alice@example.com"})
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert b"We have sent several emails already. Please try again in" in throttled.data


def test_reset_links_use_public_url_not_the_host_header(app, make_user, mail_sink, run_jobs):
    from app.services.accounts import users

    make_user()
    # A request whose Host header an attacker chose: the link must still point at PUBLIC_URL.
    app.config["PUBLIC_URL"] = "https://linkarooie.example"
    try:
        with app.test_request_context("/forgot-password", base_url="http://evil.example"):
            users.request_password_reset("alice@example.com")
            db.session.commit()
    finally:
        app.config["PUBLIC_URL"] = None
    run_jobs()
    message = mail_sink.last(to="alice@example.com")
    link = mail_sink.link(message, "/reset-password/", path_only=False)
    assert link.startswith("https://linkarooie.example/reset-password/")
    assert "evil.example" not in mail_sink.text(message) + mail_sink.html(message)
