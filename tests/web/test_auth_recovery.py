"""Taking an account back (password reset, confirmed email change, confirmation from a browser
that is not the account's) revokes every API token, removes identities linked while the address
was unconfirmed and ends every session; token auth also refuses tokens from an older session
version. A password change by the owner only signs out the other devices."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, OAuthIdentity, User
from app.services.accounts import api_tokens
from tests.conftest import DEFAULT_PASSWORD

HX = {"HX-Request": "true"}
NEW_PASSWORD = "velvet otter harmonica"


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def token_for(user) -> str:
    _, raw = api_tokens.create_token(user, "script")
    db.session.commit()
    return raw


def identity(user_id: int, subject: str, *, unverified: bool) -> None:
    db.session.add(
        OAuthIdentity(
            user_id=user_id,
            provider="github" if unverified else "google",
            subject=subject,
            linked_at=datetime.now(UTC),
            linked_unverified=unverified,
        )
    )
    db.session.commit()


def api_status(app, raw: str) -> int:
    return app.test_client().get("/api/v1/me", headers=bearer(raw)).status_code


def test_password_reset_revokes_tokens_and_unconfirmed_identities(
    app, client, make_user, new_browser, mail_sink, run_jobs
):
    user = make_user()
    user_id, email = user.id, user.email
    raw = token_for(user)
    identity(user_id, "squatter", unverified=True)
    identity(user_id, "owner", unverified=False)
    laptop = new_browser()
    laptop.post("/sign-in", data={"email": email, "password": DEFAULT_PASSWORD, "remember": "y"})
    assert api_status(app, raw) == 200

    client.post("/forgot-password", data={"email": email})
    run_jobs()
    # (the token's security notice is in the inbox too)
    reset = next(m for m in mail_sink.to(email) if m["Subject"] == "Reset your password")
    link = mail_sink.link(reset, "/reset-password/")
    done = client.post(link, data={"password": NEW_PASSWORD}, follow_redirects=True)
    assert b"every API token of this account has been signed out" in done.data

    assert api_status(app, raw) == 401
    db.session.expire_all()
    left = [i.subject for i in db.session.scalars(select(OAuthIdentity))]
    assert left == ["owner"]  # linked while the address was confirmed: kept
    assert laptop.get("/settings").status_code == 302
    laptop.delete_cookie("session")
    assert laptop.get("/settings").status_code == 302
    assert client.get("/settings").status_code == 200
    secured = db.session.scalar(select(AuditLog).where(AuditLog.event == "account_secured"))
    assert secured.details == {
        "reason": "password_reset",
        "tokens_revoked": 1,
        "identities_removed": 1,
        "sessions_ended": 1,
    }


def test_a_confirmed_email_change_revokes_tokens_and_ends_other_sessions(
    app, client, make_user, login, new_browser, mail_sink, run_jobs
):
    user = make_user()
    raw = token_for(user)
    login(user)
    phone = new_browser()
    phone.post("/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD})
    client.post(
        "/settings/email",
        headers=HX,
        data={"email-new_email": "alice@new.example", "email-password": DEFAULT_PASSWORD},
    )
    run_jobs()

    client.get(mail_sink.link(mail_sink.last(to="alice@new.example"), "/confirm-email/"))

    assert api_status(app, raw) == 401
    assert phone.get("/settings").status_code == 302
    assert client.get("/settings").status_code == 200  # the browser that confirmed continues


def test_confirming_from_another_browser_ends_the_accounts_sessions(
    app, client, make_user, login, new_browser, mail_sink, run_jobs
):
    user = make_user(verified=False)
    user_id = user.id
    login(user)
    client.post("/settings/verification")
    run_jobs()
    link = mail_sink.link(mail_sink.last(to=user.email), "/verify/")

    elsewhere = new_browser()
    asked = elsewhere.get(link)  # a mail scanner opening the link changes nothing
    assert asked.status_code == 200 and b"Confirm alice@example.com?" in asked.data
    assert client.get("/settings").status_code == 200
    assert not db.session.get(User, user_id).is_verified

    done = elsewhere.post(link, follow_redirects=True)

    assert b"If you did not create this account, choose a new password now." in done.data
    assert client.get("/settings").status_code == 302
    assert db.session.get(User, user_id).is_verified


def test_confirming_in_the_signed_in_browser_keeps_the_session(
    client, make_user, login, mail_sink, run_jobs
):
    user = make_user(verified=False)
    login(user)
    client.post("/settings/verification")
    run_jobs()
    link = mail_sink.link(mail_sink.last(to=user.email), "/verify/")

    done = client.get(link, follow_redirects=True)

    assert b"Your email address is confirmed" in done.data
    assert client.get("/settings").status_code == 200


def test_token_auth_refuses_a_token_from_an_older_session_version(app, make_user):
    user = make_user()
    raw = token_for(user)
    user.session_version += 1  # e.g. a recovery path that moved the version on
    db.session.commit()
    assert api_status(app, raw) == 401


def test_a_password_change_by_the_owner_keeps_their_tokens(app, client, make_user, login):
    user = make_user()
    raw = token_for(user)
    login(user)
    changed = client.post(
        "/settings/password",
        headers=HX,
        data={
            "password-current_password": DEFAULT_PASSWORD,
            "password-new_password": "sunlit canyon echo",
        },
    )
    assert changed.status_code == 200
    assert api_status(app, raw) == 200
