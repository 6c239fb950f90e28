"""Sign in with Facebook, end to end against a loopback server speaking Facebook Login's documented
endpoints (dialog/oauth, oauth/access_token as a GET) and Graph /me?fields=id,name,email."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select

from app.extensions import db
from app.models import OAuthIdentity, User
from tests.peers.oidc import follow_provider


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def signed_in_user_id(client) -> str | None:
    with client.session_transaction() as session:
        return (session.get("_user_id") or "").split(":")[0] or None


def test_first_facebook_sign_in_creates_an_account(client, facebook):
    facebook.add_user("zuck", id="10001", name="Mark Example", email="mark@example.com")

    started = client.get("/auth/oauth/facebook/start")
    location = urlsplit(started.headers["Location"])
    assert location.path == "/v19.0/dialog/oauth"
    query = parse_qs(location.query)
    assert query["scope"] == ["email public_profile"] and query["state"]
    done = follow_provider(client, started, login_hint="zuck")

    assert done.status_code == 302
    user = db.session.scalar(User.by_email("mark@example.com"))
    assert user is not None and user.name == "Mark Example" and user.password_hash is None
    assert user.email_verified_at is not None
    assert db.session.scalar(OAuthIdentity.lookup("facebook", "10001")).user_id == user.id
    assert signed_in_user_id(client) == str(user.id)
    # Facebook's documented exchange is a GET with the app secret; /me names its fields.
    seen = {(method, path): params for method, path, params in facebook.requests}
    assert seen[("GET", "/v19.0/oauth/access_token")]["client_secret"] == "fb-app-secret"
    assert seen[("GET", "/v19.0/me")]["fields"] == "id,name,email"


def test_facebook_without_an_email_cannot_create_an_account(client, facebook):
    facebook.add_user("phoneonly", id="10002", name="Phone Only")  # declined email / has none

    done = follow_provider(client, client.get("/auth/oauth/facebook/start"))

    assert done.status_code == 422
    assert "Facebook did not share a verified email address" in done.get_data(as_text=True)
    assert count(User) == 0 and count(OAuthIdentity) == 0


def test_user_denied_on_facebook_shows_a_readable_page(client, facebook):
    facebook.add_user("zuck", id="10001", name="Mark", email="mark@example.com")
    facebook.deny = True

    done = follow_provider(client, client.get("/auth/oauth/facebook/start"))

    assert done.status_code == 403
    assert "Facebook sign-in cancelled" in done.get_data(as_text=True)
    assert count(User) == 0


def test_tampered_state_is_refused(client, facebook):
    facebook.add_user("zuck", id="10001", name="Mark", email="mark@example.com")

    done = follow_provider(
        client,
        client.get("/auth/oauth/facebook/start"),
        tamper=lambda url: url.replace("state=", "state=0"),
    )

    assert done.status_code == 400
    assert count(User) == 0


def test_bad_app_secret_is_refused_by_facebook(client, facebook, oauth_settings):
    facebook.add_user("zuck", id="10001", name="Mark", email="mark@example.com")
    oauth_settings(FACEBOOK_CLIENT_SECRET="wrong")

    done = follow_provider(client, client.get("/auth/oauth/facebook/start"))

    assert done.status_code == 400
    assert "Facebook did not confirm this sign-in" in done.get_data(as_text=True)
    assert count(User) == 0


def test_all_three_buttons_when_all_three_are_configured(client, facebook, github, google):
    html = client.get("/sign-in").get_data(as_text=True)
    for name in ("google", "github", "facebook"):
        assert f'href="/auth/oauth/{name}/start' in html
