"""Sign in with Google, end to end against a real OpenID Provider (oidc-provider on 127.0.0.1):
discovery, code flow with PKCE (S256) and a nonce checked in the id_token, client secret and
redirect URI checked by the provider."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, OAuthIdentity, User
from tests.peers.oidc import follow_provider


def signed_in_user_id(client) -> str | None:
    with client.session_transaction() as session:
        return (session.get("_user_id") or "").split(":")[0] or None


def events(user: User) -> list[str]:
    rows = db.session.scalars(
        select(AuditLog).where(AuditLog.user_id == user.id).order_by(AuditLog.id)
    )
    return [row.event for row in rows]


def test_first_google_sign_in_creates_a_verified_account_without_password(client, google):
    started = client.get("/auth/oauth/google/start")
    assert started.status_code == 302
    location = urlsplit(started.headers["Location"])
    assert f"{location.scheme}://{location.netloc}" == google.issuer
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["client_id"] == google.client_id
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    assert query["nonce"] and query["state"]
    assert set(query["scope"].split()) == {"openid", "email", "profile"}
    assert query["redirect_uri"] == "http://localhost/auth/oauth/google/callback"

    done = follow_provider(client, started, login_hint="bob-sub")

    assert done.status_code == 302
    user = db.session.scalar(User.by_email("bob@example.com"))
    assert user is not None
    assert user.email_verified_at is not None and user.password_hash is None
    assert user.name == "Bob Builder"
    identity = db.session.scalar(OAuthIdentity.lookup("google", "bob-sub"))
    assert identity.user_id == user.id and identity.is_linked
    assert signed_in_user_id(client) == str(user.id)
    assert events(user) == ["sign_up", "oauth_linked", "sign_in"]
    sign_in = db.session.scalar(select(AuditLog).where(AuditLog.event == "sign_in"))
    assert sign_in.details["method"] == "google"


def test_second_google_sign_in_signs_into_the_same_account(client, google, new_browser):
    follow_provider(client, client.get("/auth/oauth/google/start"), login_hint="bob-sub")
    first = db.session.scalar(User.by_email("bob@example.com"))

    other_browser = new_browser()
    done = follow_provider(
        other_browser, other_browser.get("/auth/oauth/google/start"), login_hint="bob@example.com"
    )

    assert done.status_code == 302
    assert signed_in_user_id(other_browser) == str(first.id)
    assert db.session.scalar(select(db.func.count()).select_from(User)) == 1
    db.session.expire_all()
    assert db.session.scalar(OAuthIdentity.lookup("google", "bob-sub")).last_sign_in_at


def test_sign_in_lands_on_a_safe_next_page(google, new_browser):
    browser = new_browser()
    started = browser.get("/auth/oauth/google/start?next=/media/somewhere")
    assert follow_provider(browser, started).headers["Location"] == "/media/somewhere"

    browser = new_browser()
    started = browser.get("/auth/oauth/google/start?next=//evil.example/steal")
    assert "evil.example" not in follow_provider(browser, started).headers["Location"]


def test_tampered_state_is_refused_and_creates_nothing(client, google):
    def tamper(url: str) -> str:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        query["state"] = ["forged-" + query["state"][0][:8]]
        return parts._replace(query="&".join(f"{k}={v[0]}" for k, v in query.items())).geturl()

    done = follow_provider(client, client.get("/auth/oauth/google/start"), tamper=tamper)

    assert done.status_code == 400
    assert "This sign-in has expired" in done.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count()).select_from(User)) == 0
    assert signed_in_user_id(client) is None


def test_replayed_callback_is_refused(app, client, google):
    replay = {}

    def keep(url: str) -> str:
        replay["url"] = url
        return url

    assert (
        follow_provider(client, client.get("/auth/oauth/google/start"), tamper=keep).status_code
        == 302
    )
    path = replay["url"].removeprefix("http://localhost")
    again = client.get(path)
    assert again.status_code == 400
    assert "start again" in again.get_data(as_text=True).lower()


def test_cancelling_at_google_shows_a_readable_page(client, google):
    done = follow_provider(client, client.get("/auth/oauth/google/start"), login_hint="cancel")

    assert done.status_code == 403
    text = done.get_data(as_text=True)
    assert "Google sign-in cancelled" in text and "nothing changed" in text
    assert db.session.scalar(select(db.func.count()).select_from(User)) == 0


def test_unverified_google_email_does_not_create_an_account(client, google):
    done = follow_provider(client, client.get("/auth/oauth/google/start"), login_hint="mallory-sub")

    assert done.status_code == 422
    assert "did not share a verified email address" in done.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count()).select_from(User)) == 0
    assert db.session.scalar(select(db.func.count()).select_from(OAuthIdentity)) == 0


def test_the_provider_really_checks_the_client_secret(client, google, oauth_settings):
    oauth_settings(GOOGLE_CLIENT_SECRET="not-the-secret")

    done = follow_provider(client, client.get("/auth/oauth/google/start"), login_hint="bob-sub")

    assert done.status_code == 400
    assert "Google did not confirm this sign-in" in done.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count()).select_from(User)) == 0


def test_unconfigured_or_unknown_provider_is_404(client, google):
    assert client.get("/auth/oauth/myspace/start").status_code == 404
    assert client.get("/auth/oauth/github/start").status_code == 404  # no GITHUB_CLIENT_ID here


def test_sign_in_page_shows_only_configured_providers(client, google):
    html = client.get("/sign-in").get_data(as_text=True)
    assert 'href="/auth/oauth/google/start' in html
    assert "/auth/oauth/github/start" not in html


def test_a_code_from_another_flow_fails_the_pkce_check(client, google):
    """Code injection: a code issued for flow A, presented with flow B's state (so B's verifier)."""
    first = client.get("/auth/oauth/google/start")
    second = client.get("/auth/oauth/google/start")
    second_state = parse_qs(urlsplit(second.headers["Location"]).query)["state"][0]

    def swap_state(url: str) -> str:
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        query["state"] = second_state
        return parts._replace(query="&".join(f"{k}={v}" for k, v in query.items())).geturl()

    done = follow_provider(client, first, tamper=swap_state, login_hint="bob-sub")

    assert done.status_code == 400
    assert "Google did not confirm this sign-in" in done.get_data(as_text=True)
    assert db.session.scalar(select(db.func.count()).select_from(User)) == 0


def test_an_id_token_with_another_nonce_is_refused(client, google):
    started = client.get("/auth/oauth/google/start")
    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    with client.session_transaction() as session:  # as if the id_token were replayed from elsewhere
        held = session[f"_state_google_{state}"]
        held["data"]["nonce"] = "some-other-nonce"
        session[f"_state_google_{state}"] = held

    done = follow_provider(client, started, login_hint="bob-sub")

    assert done.status_code == 400
    assert db.session.scalar(select(db.func.count()).select_from(User)) == 0
