"""Settings: profile, password change, email change with re-verification; htmx fragments."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, User
from tests.conftest import DEFAULT_PASSWORD

HX = {"HX-Request": "true"}


def test_settings_page_has_every_section(client, make_user, login):
    login(make_user())
    page = client.get("/settings")
    assert page.status_code == 200
    for title in (
        b"Profile",
        b"Email",
        b"Password",
        b"Sign-in methods",
        b"Where you are signed in",
        b"API tokens",
    ):
        assert title in page.data
    assert b'<label for="profile-name">Your name' in page.data  # every input has a label


def test_profile_update_answers_a_fragment_for_htmx(client, make_user, login):
    user = make_user()
    login(user)
    response = client.post("/settings/profile", data={"profile-name": "Alice Liddell"}, headers=HX)
    assert response.status_code == 200
    assert b'id="settings-profile"' in response.data and b"<html" not in response.data
    assert b"Saved." in response.data
    assert db.session.get(User, user.id).name == "Alice Liddell"
    empty = client.post("/settings/profile", data={"profile-name": ""}, headers=HX)
    assert empty.status_code == 422 and b"Tell us what to call you" in empty.data


def test_change_password_asks_for_the_current_one_and_ends_other_sessions(
    app, client, make_user, login
):
    user = make_user()
    phone = app.test_client()
    phone.post(
        "/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD, "remember": "y"}
    )
    login(user, remember=True)

    wrong = client.post(
        "/settings/password",
        headers=HX,
        data={
            "password-current_password": "not it at all",
            "password-new_password": "sunlit canyon echo",
        },
    )
    assert wrong.status_code == 422 and b"not your current password" in wrong.data
    weak = client.post(
        "/settings/password",
        headers=HX,
        data={
            "password-current_password": DEFAULT_PASSWORD,
            "password-new_password": "iloveyou123",
        },
    )
    assert weak.status_code == 422 and b"too common" in weak.data

    ok = client.post(
        "/settings/password",
        headers=HX,
        data={
            "password-current_password": DEFAULT_PASSWORD,
            "password-new_password": "sunlit canyon echo",
        },
    )
    assert ok.status_code == 200 and b"other devices have been signed out" in ok.data
    assert client.get("/settings").status_code == 200  # this browser stays signed in...
    client.delete_cookie("session")
    assert client.get("/settings").status_code == 200  # ...and its remember cookie was renewed
    assert phone.get("/settings").status_code == 302  # the other device is signed out
    phone.delete_cookie("session")
    assert phone.get("/settings").status_code == 302
    assert db.session.scalar(select(AuditLog).where(AuditLog.event == "password_changed"))


def test_change_email_needs_the_new_address_confirmed(
    client, make_user, login, mail_sink, run_jobs
):
    user = make_user()
    user_id = user.id
    make_user(email="bob@example.com", name="Bob")
    login(user)

    wrong = client.post(
        "/settings/email",
        headers=HX,
        data={"email-new_email": "alice@new.example", "email-password": "nope nope nope"},
    )
    assert wrong.status_code == 422 and b"not your current password" in wrong.data
    taken = client.post(
        "/settings/email",
        headers=HX,
        data={"email-new_email": "bob@example.com", "email-password": DEFAULT_PASSWORD},
    )
    assert taken.status_code == 422 and b"Another account already uses" in taken.data

    asked = client.post(
        "/settings/email",
        headers=HX,
        data={"email-new_email": "Alice@New.example", "email-password": DEFAULT_PASSWORD},
    )
    assert asked.status_code == 200 and b"We sent a link to alice@new.example" in asked.data
    assert db.session.get(User, user_id).email == "alice@example.com"  # not until confirmed

    run_jobs()
    link = mail_sink.link(mail_sink.last(to="alice@new.example"), "/confirm-email/")
    done = client.get(link, follow_redirects=True)
    assert b"Your email address is now alice@new.example" in done.data
    changed = db.session.get(User, user_id)
    assert changed.email == "alice@new.example" and changed.is_verified
    assert client.get(link).status_code == 400  # single use

    run_jobs()
    notice = mail_sink.last(to="alice@example.com")  # the old inbox is told
    assert notice["Subject"] == "Your email address was changed"
    client.post("/sign-out")
    client.post("/sign-in", data={"email": "alice@new.example", "password": DEFAULT_PASSWORD})
    assert client.get("/settings").status_code == 200
