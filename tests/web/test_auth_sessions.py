"""Signing out signs out: the server keeps a record of each session, and cookies of a session
that ended (sign-out, "sign out everywhere else") are refused wherever they were copied to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, UserSession
from tests.conftest import DEFAULT_PASSWORD

HX = {"HX-Request": "true"}
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)


def sign_in(browser, user, *, remember: bool = False, agent: str = FIREFOX):
    data = {"email": user.email, "password": DEFAULT_PASSWORD}
    if remember:
        data["remember"] = "y"
    response = browser.post("/sign-in", data=data, headers={"User-Agent": agent})
    assert response.status_code == 302
    return response


def cookies(browser) -> dict[str, str]:
    return {
        name: browser.get_cookie(name).value
        for name in ("session", "remember_token")
        if browser.get_cookie(name) is not None
    }


def replay(new_browser, captured: dict[str, str], *names: str):
    browser = new_browser()
    for name in names:
        browser.set_cookie(name, captured[name])
    return browser


def test_sign_out_with_remember_me_stays_signed_out(client, make_user):
    sign_in(client, make_user(), remember=True)
    assert client.get("/settings").status_code == 200

    client.post("/sign-out")

    assert client.get_cookie("remember_token") is None  # the browser is told to forget it
    assert client.get("/settings").status_code == 302


def test_cookies_copied_before_sign_out_are_refused_afterwards(client, make_user, new_browser):
    sign_in(client, make_user(), remember=True)
    captured = cookies(client)
    assert replay(new_browser, captured, "session").get("/settings").status_code == 200
    assert replay(new_browser, captured, "remember_token").get("/settings").status_code == 200

    client.post("/sign-out")

    assert replay(new_browser, captured, "session").get("/settings").status_code == 302
    assert replay(new_browser, captured, "remember_token").get("/settings").status_code == 302
    assert (
        replay(new_browser, captured, "session", "remember_token").get("/settings").status_code
        == 302
    )
    ended = db.session.scalar(select(UserSession))
    assert ended.revoked_at is not None


def test_settings_lists_sessions_and_signs_out_everywhere_else(app, client, make_user, new_browser):
    user = make_user()
    sign_in(client, user, agent=FIREFOX)
    phone = new_browser()
    sign_in(phone, user, remember=True, agent=IPHONE)
    phone_cookies = cookies(phone)
    tablet = new_browser()
    sign_in(tablet, user, agent=IPHONE)

    page = client.get("/settings").get_data(as_text=True)
    assert "Where you are signed in" in page
    assert page.count("Safari on iPhone") == 2 and "Firefox on Linux" in page
    assert page.count("This device") == 1
    assert "Sign out everywhere else" in page

    done = client.post("/settings/sessions/others/end", headers=HX)
    assert done.status_code == 200 and "Signed out of 2 other sessions." in done.get_data(True)
    assert client.get("/settings").status_code == 200  # this device stays
    assert phone.get("/settings").status_code == 302
    assert tablet.get("/settings").status_code == 302
    assert replay(new_browser, phone_cookies, "remember_token").get("/settings").status_code == 302
    page = client.get("/settings").get_data(as_text=True)
    assert "Safari on iPhone" not in page and "Sign out everywhere else" not in page


def test_one_other_session_can_be_signed_out(client, make_user, new_browser, session_row):
    user = make_user()
    sign_in(client, user)
    phone = new_browser()
    sign_in(phone, user, agent=IPHONE)
    phone_row = session_row(agent_contains="iPhone")

    done = client.post(f"/settings/sessions/{phone_row.id}/end", headers=HX)

    assert done.status_code == 200 and "That session is signed out." in done.get_data(True)
    assert phone.get("/settings").status_code == 302
    assert client.get("/settings").status_code == 200


def test_someone_elses_session_cannot_be_ended(client, make_user, new_browser, session_row):
    bob = make_user(email="bob@example.com", name="Bob")
    bobs = new_browser()
    sign_in(bobs, bob)
    bobs_row = session_row(agent_contains="Firefox")
    sign_in(client, make_user())

    assert client.post(f"/settings/sessions/{bobs_row.id}/end").status_code == 404
    assert bobs.get("/settings").status_code == 200


def test_session_rows_keep_only_a_hash_of_the_key_and_of_the_address(client, make_user):
    sign_in(client, make_user())
    row = db.session.scalar(select(UserSession))
    with client.session_transaction() as session:
        key = session["_user_id"].split(":")[2]
    assert key not in row.key_hash and len(row.key_hash) == 64
    assert row.ip_hash and "127.0.0.1" not in row.ip_hash
    assert db.session.scalar(select(AuditLog).where(AuditLog.event == "sign_in")).ip_hash


def test_request_log_names_the_user_without_the_session_key(client, make_user, caplog):
    user = make_user()
    sign_in(client, user)
    with client.session_transaction() as session:
        key = session["_user_id"].split(":")[2]
    caplog.clear()
    client.get("/settings")
    logged = [r for r in caplog.records if getattr(r, "event", None) == "request"]
    assert logged and logged[-1].user_id == user.id
    assert key not in caplog.text


@pytest.fixture
def session_row(app):
    """The newest session row whose user agent mentions `agent_contains`."""

    def find(agent_contains: str) -> UserSession:
        db.session.expire_all()
        rows = db.session.scalars(select(UserSession).order_by(UserSession.id.desc()))
        return next(r for r in rows if agent_contains in r.user_agent)

    return find


def test_a_session_idle_longer_than_remember_me_lasts_is_over(
    app, client, make_user, new_browser, session_row
):
    user = make_user()
    sign_in(client, user, agent=FIREFOX)
    phone = new_browser()
    sign_in(phone, user, remember=True, agent=IPHONE)
    idle = session_row(agent_contains="iPhone")
    idle.last_seen_at = datetime.now(UTC) - app.config["REMEMBER_COOKIE_DURATION"] - timedelta(1)
    db.session.commit()

    assert phone.get("/settings").status_code == 302
    assert "Safari on iPhone" not in client.get("/settings").get_data(as_text=True)
