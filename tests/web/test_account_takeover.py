"""Tried as a new user would: someone registers an address they do not own, and the real owner
later takes the account back. Whatever the first person set up must stop working."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from app.extensions import db
from app.models import ApiToken, OAuthIdentity, User, UserSession
from app.services.accounts.api_tokens import hash_token

VICTIM = "vic@example.com"
ATTACKER_PASSWORD = "squatter owns this now"
OWNER_PASSWORD = "rightful owner returns"
HX = {"HX-Request": "true"}
ATTACKER_GITHUB = [{"email": "mallory@evil.example", "primary": True, "verified": True}]


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def signed_in_as(browser) -> str | None:
    with browser.session_transaction() as session:
        return (session.get("_user_id") or "").split(":")[0] or None


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def leave_behind_from_before(user_id: int) -> str:
    """A token and a provider identity as the code before this change let an unconfirmed
    account make them (the web routes now refuse both, see below)."""
    raw = "lk_" + "left-behind-by-the-squatter-0123456789abcdef"
    user = db.session.get(User, user_id)
    db.session.add(
        ApiToken(
            user_id=user_id,
            name="backdoor",
            token_hash=hash_token(raw),
            display_prefix=raw[:7],
            session_version=user.session_version,
        )
    )
    db.session.add(
        OAuthIdentity(
            user_id=user_id,
            provider="github",
            subject="666",
            email="mallory@evil.example",
            linked_at=datetime.now(UTC),
            linked_unverified=True,
        )
    )
    db.session.commit()
    return raw


def test_the_squatter_keeps_nothing_once_the_owner_takes_the_account_back(
    app, client, new_browser, github, mail_sink, run_jobs
):
    from tests.peers.oidc import follow_provider

    github.add_user("mallory", id=666, emails=ATTACKER_GITHUB)
    squatter = client
    signed_up = squatter.post(
        "/sign-up", data={"name": "Vic", "email": VICTIM, "password": ATTACKER_PASSWORD}
    )
    assert signed_up.status_code == 302
    victim_id = db.session.scalar(User.by_email(VICTIM)).id
    laptop = new_browser()  # a second device of the squatter, "keep me signed in"
    laptop.post("/sign-in", data={"email": VICTIM, "password": ATTACKER_PASSWORD, "remember": "y"})
    captured = {
        "session": laptop.get_cookie("session").value,
        "remember_token": laptop.get_cookie("remember_token").value,
    }

    # While the address is unconfirmed, no token and no provider identity can be added.
    token = squatter.post("/settings/tokens", data={"token-name": "backdoor"}, headers=HX)
    assert token.status_code == 403 and b"Please confirm your email address" in token.data
    linked = squatter.post("/auth/oauth/github/link")
    assert linked.status_code == 403 and b"confirm your email" in linked.data
    assert count(ApiToken) == 0 and count(OAuthIdentity) == 0

    raw = leave_behind_from_before(victim_id)
    assert app.test_client().get("/api/v1/me", headers=bearer(raw)).status_code == 200
    via_github = new_browser()
    follow_provider(via_github, via_github.get("/auth/oauth/github/start"), login="mallory")
    assert signed_in_as(via_github) == str(victim_id)

    # The real owner opens the confirmation mail in their own browser, then resets the password.
    run_jobs()
    owner = new_browser()
    verify_link = mail_sink.link(mail_sink.last(to=VICTIM), "/verify/")
    asked = owner.get(verify_link)  # opening it from elsewhere asks first
    assert asked.status_code == 200 and b"Yes, this is my address" in asked.data
    assert squatter.get("/settings").status_code == 200  # nothing happened yet
    verified = owner.post(verify_link)
    assert verified.status_code == 302 and verified.headers["Location"] == "/forgot-password"
    owner.post("/forgot-password", data={"email": VICTIM})
    run_jobs()
    reset_link = mail_sink.link(mail_sink.last(to=VICTIM), "/reset-password/")
    assert owner.post(reset_link, data={"password": OWNER_PASSWORD}).status_code == 302
    assert owner.get("/settings").status_code == 200

    # Everything the squatter had is refused: sessions, copied cookies, token, identity, password.
    assert squatter.get("/settings").status_code == 302
    assert laptop.get("/settings").status_code == 302
    for name, value in captured.items():
        replay = new_browser()
        replay.set_cookie(name, value)
        assert replay.get("/settings").status_code == 302, name
    assert via_github.get("/settings").status_code == 302
    refused = app.test_client().get("/api/v1/me", headers=bearer(raw))
    assert refused.status_code == 401
    again = new_browser()
    follow_provider(again, again.get("/auth/oauth/github/start"), login="mallory")
    assert signed_in_as(again) != str(victim_id)  # GitHub now makes mallory her own account
    old_password = new_browser().post(
        "/sign-in", data={"email": VICTIM, "password": ATTACKER_PASSWORD}
    )
    assert old_password.status_code == 422
    live = db.session.scalars(select(UserSession).where(UserSession.user_id == victim_id))
    assert [s.method for s in live if s.is_active] == ["password_reset"]  # the owner's only
