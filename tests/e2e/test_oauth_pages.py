"""OAuth sign-in in a real browser (Chromium): the provider buttons on the sign-in page, a GitHub
round trip through the loopback fake, and Settings' sign-in methods with an htmx unlink."""

from __future__ import annotations

from playwright.sync_api import expect

from app.extensions import db
from app.models import OAuthIdentity
from app.services.accounts import oauth_identities
from tests.conftest import DEFAULT_PASSWORD


def test_sign_in_with_github_in_a_browser(page, live_server, google, github, facebook):
    github.redirect_uri = f"{live_server}/auth/oauth/github/callback"  # the browser's origin
    github.add_user(
        "octocat",
        id=42,
        name="Octo Cat",
        emails=[{"email": "octo@example.com", "primary": True, "verified": True}],
    )

    page.goto(f"{live_server}/sign-in")
    for label in ("Google", "GitHub", "Facebook"):
        expect(page.get_by_role("button", name=f"Continue with {label}")).to_be_visible()
    page.shot("sign-in")

    page.get_by_role("button", name="Continue with GitHub").click()
    page.wait_for_load_state()
    page.goto(f"{live_server}/settings")
    methods = page.locator("#sign-in-methods")
    expect(methods.locator("#method-github")).to_contain_text("Linked as octo@example.com")
    expect(methods.locator("#method-github")).to_contain_text("Your only way to sign in")
    expect(methods.get_by_role("button", name="Link Google")).to_be_visible()
    page.shot("settings-oauth-only")


def test_settings_lists_methods_and_unlinks_with_htmx(
    page, live_server, google, github, facebook, make_user
):
    alice = make_user(email="alice@example.com", name="Alice")
    db.session.add(
        OAuthIdentity(
            user_id=alice.id,
            provider="github",
            subject="42",
            email="alice@example.com",
            linked_at=oauth_identities._now(),
        )
    )
    db.session.commit()

    page.goto(f"{live_server}/sign-in")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_load_state()
    page.goto(f"{live_server}/settings#settings-sign-in")
    methods = page.locator("#sign-in-methods")
    expect(methods.get_by_role("button", name="Unlink GitHub")).to_be_visible()
    expect(methods.get_by_role("button", name="Link Facebook")).to_be_visible()
    page.locator("#settings-sign-in").scroll_into_view_if_needed()
    page.shot("settings-methods")

    methods.get_by_role("button", name="Unlink GitHub").click()
    expect(methods).to_contain_text("GitHub is no longer linked")
    expect(methods.get_by_role("button", name="Link GitHub")).to_be_visible()
    page.shot("settings-after-unlink")
    db.session.expire_all()
    assert db.session.scalar(OAuthIdentity.lookup("github", "42")) is None
