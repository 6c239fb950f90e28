"""Sensitive changes need a confirmed address and a sign-in from just now: creating API tokens,
linking a provider, and (for accounts without a password) changing the email or setting one."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from app.extensions import db
from app.models import ApiToken, AuditLog, OAuthIdentity, User
from tests.conftest import DEFAULT_PASSWORD
from tests.peers.oidc import follow_provider

HX = {"HX-Request": "true"}
OCTO = [{"email": "octo@example.com", "primary": True, "verified": True}]


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def age_the_sign_in(browser, minutes: int = 11) -> None:
    """Make this browser's last authentication `minutes` old (REAUTH_MINUTES is 10)."""
    with browser.session_transaction() as session:
        session["auth_at"] = int(time.time()) - minutes * 60


def restored_from_remember_me(client, user) -> None:
    """Signed in with "keep me signed in", then the browser was closed and reopened."""
    client.post(
        "/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD, "remember": "y"}
    )
    client.delete_cookie("session")
    assert client.get("/settings").status_code == 200


def create_token(client):
    return client.post("/settings/tokens", data={"token-name": "Deploy"}, headers=HX)


def test_a_token_needs_a_sign_in_from_just_now(client, make_user):
    restored_from_remember_me(client, make_user())

    refused = create_token(client)

    assert refused.status_code == 403
    body = refused.get_data(as_text=True)
    assert "confirm it is you first" in body
    assert 'href="/confirm-identity?next=/settings"' in body
    assert count(ApiToken) == 0

    page = client.get("/confirm-identity?next=/settings")
    assert page.status_code == 200 and b"Confirm it is you" in page.data
    wrong = client.post(
        "/confirm-identity", data={"password": "not it at all", "next": "/settings"}
    )
    assert wrong.status_code == 422 and b"That is not your password." in wrong.data
    right = client.post(
        "/confirm-identity", data={"password": DEFAULT_PASSWORD, "next": "/settings"}
    )
    assert right.status_code == 302 and right.headers["Location"] == "/settings"

    assert create_token(client).status_code == 201
    assert db.session.scalar(select(AuditLog).where(AuditLog.event == "reauthenticated"))


def test_an_old_sign_in_is_not_enough_for_a_token(client, make_user, login):
    login(make_user())
    age_the_sign_in(client)
    assert create_token(client).status_code == 403
    age_the_sign_in(client, minutes=2)
    assert create_token(client).status_code == 201


def test_confirm_identity_never_leaves_the_site(client, make_user, login):
    login(make_user())
    done = client.post(
        "/confirm-identity", data={"password": DEFAULT_PASSWORD, "next": "//evil.example"}
    )
    assert done.status_code == 302 and done.headers["Location"] == "/settings"


def test_an_unconfirmed_address_cannot_make_tokens_or_link_providers(
    client, github, make_user, login
):
    login(make_user(verified=False))
    github.add_user("octocat", id=42, emails=OCTO)

    token = create_token(client)
    assert token.status_code == 403 and b"Please confirm your email address" in token.data
    linked = client.post("/auth/oauth/github/link")
    assert linked.status_code == 403 and b"confirm your email" in linked.data
    assert count(ApiToken) == 0 and count(OAuthIdentity) == 0
    assert not github.requests  # never even sent to the provider


def test_the_cli_refuses_a_token_for_an_unconfirmed_address(app, make_user):
    make_user(email="new@example.com", verified=False)
    result = app.test_cli_runner().invoke(args=["tokens", "create", "new@example.com"])
    assert result.exit_code != 0 and "Confirm your email address" in result.output


def test_linking_a_provider_needs_a_sign_in_from_just_now(client, github, make_user):
    alice = make_user()
    restored_from_remember_me(client, alice)
    github.add_user("octocat", id=42, emails=OCTO)

    asked = client.post("/auth/oauth/github/link")

    assert asked.status_code == 302
    assert asked.headers["Location"] == "/confirm-identity?next=/settings"
    assert not github.requests
    client.post("/confirm-identity", data={"password": DEFAULT_PASSWORD, "next": "/settings"})
    done = follow_provider(client, client.post("/auth/oauth/github/link"))
    assert done.status_code == 302
    assert db.session.scalar(OAuthIdentity.lookup("github", "42")).user_id == alice.id


# --- accounts without a password confirm through their provider ---------------------------------


def github_only_account(client, github):
    github.add_user("octocat", id=42, emails=OCTO)
    follow_provider(client, client.get("/auth/oauth/github/start"), login="octocat")
    user = db.session.scalar(User.by_email("octo@example.com"))
    assert user is not None and user.password_hash is None
    return user


def change_email(client):
    return client.post("/settings/email", headers=HX, data={"email-new_email": "octo@new.example"})


def set_password(client):
    return client.post(
        "/settings/password", headers=HX, data={"password-new_password": "lantern harbour kite"}
    )


def test_provider_only_account_confirms_through_its_provider_before_changing_email(client, github):
    user = github_only_account(client, github)
    age_the_sign_in(client)

    refused = change_email(client)
    assert refused.status_code == 403
    assert b"Confirm it is you with your sign-in provider" in refused.data
    refused = set_password(client)
    assert refused.status_code == 403
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash is None

    page = client.get("/confirm-identity?next=/settings").get_data(as_text=True)
    assert "Continue with GitHub" in page and 'name="password"' not in page
    back = follow_provider(
        client, client.post("/auth/oauth/github/reauth", data={"next": "/settings"})
    )
    assert back.status_code == 302 and back.headers["Location"] == "/settings"

    asked = change_email(client)
    assert asked.status_code == 200 and b"We sent a link to octo@new.example" in asked.data
    assert set_password(client).status_code == 200
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash is not None


def test_reauth_with_another_provider_account_changes_nothing(client, github):
    github_only_account(client, github)
    github.add_user("someone-else", id=7, emails=[{"email": "x@example.com", "primary": True}])
    age_the_sign_in(client)

    back = follow_provider(
        client,
        client.post("/auth/oauth/github/reauth", data={"next": "/settings"}),
        login="someone-else",
    )

    assert back.status_code == 403 and b"not the one linked to yours" in back.data
    assert change_email(client).status_code == 403
