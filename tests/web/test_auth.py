"""Sign up, verify, sign in/out, remember me, next=, session rotation: through real routes."""

from __future__ import annotations

import pytest
from flask_login import login_user
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, User
from app.security import verified_required
from tests.conftest import DEFAULT_PASSWORD


def events(*names: str) -> list[str]:
    query = select(AuditLog.event).order_by(AuditLog.id)
    return [e for e in db.session.scalars(query) if not names or e in names]


def sign_up(client, email="new@example.com", password="purple mango tractor", name="Nina"):
    return client.post("/sign-up", data={"name": name, "email": email, "password": password})


def test_sign_up_signs_in_and_mails_a_verification_link(client, mail_sink, run_jobs):
    response = sign_up(client)
    assert response.status_code == 302
    user = db.session.scalar(User.by_email("new@example.com"))
    user_id = user.id
    assert user.name == "Nina" and not user.is_verified
    assert user.password_hash.startswith("$argon2id$")  # Argon2id, never the password itself

    page = client.get(response.headers["Location"], follow_redirects=True)
    assert b"Please confirm your email address" in page.data  # the banner for unverified people
    assert b"Welcome, Nina!" in page.data

    assert run_jobs() >= 1  # mail goes out from the send_outbox job, not the request
    message = mail_sink.last(to="new@example.com")
    assert message["Subject"] == "Confirm your email address"
    assert message.get_body(preferencelist=("html",)) is not None  # HTML and text bodies
    link = mail_sink.link(message, "/verify/")

    verified = client.get(link, follow_redirects=True)
    assert b"Your email address is confirmed" in verified.data
    assert db.session.get(User, user_id).is_verified  # (run_jobs ended the test's session)
    assert b"Please confirm your email address" not in verified.data

    again = client.get(link)  # single use
    assert again.status_code == 400
    assert b"already been used" in again.data
    assert events("sign_up", "sign_in", "email_verified") == [
        "sign_up",
        "sign_in",
        "email_verified",
    ]


def test_sign_up_refuses_short_common_and_duplicate(client, make_user):
    short = sign_up(client, password="short")
    assert short.status_code == 422 and b"Use between 10 and 256 characters" in short.data
    common = sign_up(client, password="password123")
    assert common.status_code == 422 and b"too common" in common.data
    common_upper = sign_up(client, password="QWERTYUIOP1")
    assert common_upper.status_code == 422 and b"too common" in common_upper.data
    make_user(email="taken@example.com")
    taken = sign_up(client, email="Taken@Example.com")
    assert taken.status_code == 422 and b"already exists" in taken.data
    bad = sign_up(client, email="not-an-email")
    assert bad.status_code == 422 and b"does not look right" in bad.data
    assert db.session.scalar(User.by_email("new@example.com")) is None


def test_sign_in_and_out(client, make_user):
    user = make_user()
    wrong = client.post("/sign-in", data={"email": user.email, "password": "not my password!"})
    assert wrong.status_code == 422
    assert b"do not match an account" in wrong.data
    unknown = client.post(
        "/sign-in", data={"email": "nobody@example.com", "password": "whatever12"}
    )
    assert b"do not match an account" in unknown.data  # same words: no account probing

    ok = client.post("/sign-in", data={"email": "ALICE@example.com", "password": DEFAULT_PASSWORD})
    assert ok.status_code == 302
    assert client.get("/settings").status_code == 200

    page = client.get("/settings")
    assert b'action="/sign-out"' in page.data  # sign out is a POST form in the nav
    assert client.get("/sign-out").status_code == 405
    out = client.post("/sign-out")
    assert out.status_code == 302
    assert client.get("/settings").status_code == 302  # back to the sign-in page
    assert events() == ["sign_up", "sign_in_failed", "sign_in_failed", "sign_in", "sign_out"]
    failed = db.session.scalars(
        select(AuditLog).where(AuditLog.event == "sign_in_failed").order_by(AuditLog.id)
    ).all()
    assert failed[0].user_id == user.id and failed[1].user_id is None
    assert failed[0].ip_hash and "127.0.0.1" not in failed[0].ip_hash  # hashed, not stored raw


def test_protected_page_sends_to_sign_in_and_back(client, make_user):
    user = make_user()
    response = client.get("/settings")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in?next=")
    page = client.get(response.headers["Location"])
    assert b"Please sign in to see that page" in page.data
    assert b'name="next" type="hidden" value="/settings"' in page.data
    signed_in = client.post(
        "/sign-in?next=/settings",
        data={"email": user.email, "password": DEFAULT_PASSWORD, "next": "/settings"},
    )
    assert signed_in.headers["Location"] == "/settings"


def test_next_never_leaves_the_site(client, make_user):
    user = make_user()
    for target in (
        "//evil.example",
        "https://evil.example/x",
        "/\\evil.example",
        "///evil.example",
        "javascript:alert(1)",
        "/\x00//evil.example",
    ):
        response = client.post(
            "/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD, "next": target}
        )
        assert response.status_code == 302
        assert (
            "evil" not in response.headers["Location"]
            and "javascript" not in response.headers["Location"]
        )
        assert response.headers["Location"].startswith("/")
        client.post("/sign-out")
    response = client.post(
        "/sign-in?next=//evil.example", data={"email": user.email, "password": DEFAULT_PASSWORD}
    )
    assert "evil" not in response.headers["Location"]


def test_sign_in_rotates_the_session(client, make_user):
    user = make_user()
    client.get("/sign-in")
    before = client.csrf_token()
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
        old_secret = session["csrf_token"]
    client.post("/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD})
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session.get("csrf_token") != old_secret
        assert session["_user_id"].startswith(f"{user.id}:0:")  # id, version, session key
    # The pre-sign-in CSRF token no longer works.
    stale = client.post(
        "/settings/profile", data={"profile-name": "X"}, headers={"X-CSRFToken": before}
    )
    assert stale.status_code == 400


def test_remember_me_survives_a_lost_session_cookie(client, make_user, app):
    user = make_user()
    client.post(
        "/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD, "remember": "y"}
    )
    remember = client.get_cookie("remember_token")
    assert remember is not None and remember.http_only
    assert remember.same_site == "Lax"
    client.delete_cookie("session")  # the browser was closed
    assert client.get("/settings").status_code == 200

    forgetful = app.test_client()
    forgetful.post("/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert forgetful.get_cookie("remember_token") is None
    session_cookie = forgetful.get_cookie("session")
    assert session_cookie.http_only and session_cookie.same_site == "Lax"
    forgetful.delete_cookie("session")
    assert forgetful.get("/settings").status_code == 302


def test_unverified_people_see_a_banner_and_can_resend(
    client, make_user, login, mail_sink, run_jobs
):
    user = make_user(verified=False)
    login(user)
    page = client.get("/settings")
    assert b"Please confirm your email address" in page.data
    assert b"Not confirmed" in page.data
    response = client.post("/settings/verification", follow_redirects=True)
    assert b"We sent a new confirmation link" in response.data
    run_jobs()
    assert "/verify/" in mail_sink.link(mail_sink.last(to=user.email), "/verify/")


def test_verified_required_refuses_unverified_people(app, make_user):
    @verified_required
    def connect_platform():
        return "connected"

    unverified, verified = make_user(verified=False), make_user(email="v@example.com")
    with app.test_request_context("/platforms/x/connect"):
        login_user(verified)
        assert connect_platform() == "connected"
    with app.test_request_context("/platforms/x/connect"):
        login_user(unverified)
        try:
            connect_platform()
        except Exception as exc:  # werkzeug Forbidden, rendered by app/errors.py
            assert exc.code == 403 and "confirm your email" in exc.description
        else:
            raise AssertionError("unverified user got through")


def directives(response) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    return {name: values for name, *values in (part.split() for part in policy.split("; "))}


def test_security_headers_on_pages(app, client):
    response = client.get("/sign-in")
    csp = directives(response)
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert csp["frame-ancestors"] == ["'none'"]
    s3 = app.config["S3_ENDPOINT_URL"]  # presigned image URLs point there (none when embedded)
    assert csp["img-src"] == ["'self'", *([s3.rstrip("/")] if s3 else []), "data:", "blob:"]
    assert csp["form-action"] == ["'self'"]  # no sign-in provider configured in this test
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in response.headers  # production only
    assert b"<script>" not in response.data and b" style=" not in response.data


def test_form_action_allows_configured_sign_in_providers(app, client):
    app.config.update(GITHUB_CLIENT_ID="id", GITHUB_AUTHORIZE_URL="https://gh.example/authorize")
    try:
        form_action = directives(client.get("/sign-in"))["form-action"]
    finally:
        app.config["GITHUB_CLIENT_ID"] = None
    # "Link GitHub" POSTs and is redirected there; Chromium applies form-action to the redirect.
    assert form_action == ["'self'", "https://gh.example"]
    assert directives(client.get("/sign-in"))["form-action"] == ["'self'"]


@pytest.mark.services  # production runs on PostgreSQL, Redis and S3 only
def test_hsts_and_secure_cookies_in_production(app_config, redis_client):
    from app import create_app
    from app.config import ProductionConfig
    from tests.conftest import TEST_TOKEN_KEYS

    settings = {
        **app_config,
        "SECRET_KEY": "x" * 32,
        "PUBLIC_URL": "https://localhost",
        "TOKEN_ENCRYPTION_KEYS": TEST_TOKEN_KEYS,
        "ALLOW_INSECURE_PLATFORM_URLS": False,
        "TESTING": True,
    }
    config = type("Prod", (ProductionConfig,), settings)
    prod = create_app(config)
    response = prod.test_client().get("/sign-in")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Secure" in response.headers["Set-Cookie"]


def test_admin_required_lets_only_admins_through(app, make_user):
    from werkzeug.exceptions import Forbidden

    from app.security import admin_required

    @admin_required
    def admin_page():
        return "admin"

    admin, user = make_user(email="root@example.com", admin=True), make_user()
    with app.test_request_context("/admin"):
        login_user(admin)
        assert admin_page() == "admin"
    with app.test_request_context("/admin"):
        login_user(user)
        with pytest.raises(Forbidden):
            admin_page()
    with app.test_request_context("/admin"):  # signed out: sent to sign in
        assert admin_page().status_code == 302
