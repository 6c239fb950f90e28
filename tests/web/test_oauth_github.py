"""Sign in with GitHub, end to end against a loopback server speaking GitHub's documented OAuth
endpoints and REST JSON (tests/peers/fake_providers.py): only a verified primary email counts."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select

from app.extensions import db
from app.models import OAuthIdentity, User
from tests.peers.oidc import follow_provider

PRIMARY_VERIFIED = [
    {"email": "octo@example.com", "primary": True, "verified": True},
    {"email": "octo-old@example.com", "primary": False, "verified": True},
]


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def signed_in_user_id(client) -> str | None:
    with client.session_transaction() as session:
        return (session.get("_user_id") or "").split(":")[0] or None


def test_first_github_sign_in_creates_an_account_from_the_verified_primary_email(client, github):
    github.add_user(
        "octocat",
        id=583231,
        name="The Octocat",
        emails=PRIMARY_VERIFIED,
        public_email="shown-on-profile@example.com",
    )

    started = client.get("/auth/oauth/github/start")
    query = parse_qs(urlsplit(started.headers["Location"]).query)
    assert query["scope"] == ["read:user user:email"]
    assert query["code_challenge_method"] == ["S256"]
    done = follow_provider(client, started, login="octocat")

    assert done.status_code == 302
    user = db.session.scalar(User.by_email("octo@example.com"))
    assert user is not None and user.name == "The Octocat"
    assert user.email_verified_at is not None and user.password_hash is None
    identity = db.session.scalar(OAuthIdentity.lookup("github", "583231"))
    assert identity.user_id == user.id
    assert signed_in_user_id(client) == str(user.id)
    # The code exchange followed GitHub's docs: secret in the form, PKCE verifier, JSON asked for.
    exchange = next(p for m, path, p in github.requests if path == "/login/oauth/access_token")
    assert exchange["client_secret"] == "gh-client-secret" and exchange["code_verifier"]
    assert ("GET", "/user/emails") in [(m, path) for m, path, _ in github.requests]


def test_github_identity_keeps_working_after_the_email_changes_at_github(
    client, github, new_browser
):
    github.add_user("octocat", id=1, name="Octo", emails=PRIMARY_VERIFIED)
    follow_provider(client, client.get("/auth/oauth/github/start"))
    user_id = signed_in_user_id(client)

    github.users["octocat"]["emails"] = [
        {"email": "new@example.com", "primary": True, "verified": True}
    ]
    again = new_browser()
    assert follow_provider(again, again.get("/auth/oauth/github/start")).status_code == 302

    assert signed_in_user_id(again) == user_id  # the numeric GitHub id is what identifies
    assert count(User) == 1


def test_unverified_primary_email_is_ignored_even_if_another_is_verified(client, github, make_user):
    make_user(email="secondary@example.com")  # must not be offered for linking either
    github.add_user(
        "sneaky",
        id=7,
        emails=[
            {"email": "primary@example.com", "primary": True, "verified": False},
            {"email": "secondary@example.com", "primary": False, "verified": True},
        ],
    )

    done = follow_provider(client, client.get("/auth/oauth/github/start"))

    assert done.status_code == 422
    assert "GitHub did not share a verified email address" in done.get_data(as_text=True)
    assert count(User) == 1 and count(OAuthIdentity) == 0
    assert signed_in_user_id(client) is None


def test_public_profile_email_alone_does_not_count(client, github):
    github.add_user("nomail", id=8, emails=[], public_email="public@example.com")

    done = follow_provider(client, client.get("/auth/oauth/github/start"))

    assert done.status_code == 422
    assert count(User) == 0


def test_denied_authorization_shows_a_readable_page(client, github):
    github.add_user("octocat", id=1, emails=PRIMARY_VERIFIED)
    github.deny = True

    done = follow_provider(client, client.get("/auth/oauth/github/start"))

    assert done.status_code == 403
    assert "GitHub sign-in cancelled" in done.get_data(as_text=True)
    assert count(User) == 0


def test_tampered_state_is_refused(client, github):
    github.add_user("octocat", id=1, emails=PRIMARY_VERIFIED)

    done = follow_provider(
        client,
        client.get("/auth/oauth/github/start"),
        tamper=lambda url: url.replace("state=", "state=x"),
    )

    assert done.status_code == 400
    assert "This sign-in has expired" in done.get_data(as_text=True)
    assert count(User) == 0 and count(OAuthIdentity) == 0


def test_callback_without_a_started_flow_is_refused(client, github):
    response = client.get("/auth/oauth/github/callback?code=abc&state=def")

    assert response.status_code == 400
    assert count(User) == 0


def test_wrong_client_secret_is_refused_by_github(client, github, oauth_settings):
    github.add_user("octocat", id=1, emails=PRIMARY_VERIFIED)
    oauth_settings(GITHUB_CLIENT_SECRET="wrong")

    done = follow_provider(client, client.get("/auth/oauth/github/start"))

    assert done.status_code == 400
    assert "GitHub did not confirm this sign-in" in done.get_data(as_text=True)
    assert count(User) == 0


def test_github_down_is_a_readable_502_not_a_crash(client, github, oauth_settings):
    github.add_user("octocat", id=1, emails=PRIMARY_VERIFIED)
    started = client.get("/auth/oauth/github/start")
    oauth_settings(GITHUB_API_BASE_URL="http://127.0.0.1:9/")  # nothing listens on the discard port

    done = follow_provider(client, started)

    assert done.status_code == 502
    assert "GitHub did not answer" in done.get_data(as_text=True)
    assert count(User) == 0
