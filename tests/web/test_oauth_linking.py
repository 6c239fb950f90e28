"""Linking and unlinking sign-in methods: a provider email matching an existing account links only
after that account proves it (password or emailed single-use link); linking from Settings; unlink
never removes the last way to sign in; one provider account belongs to one user."""

from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import AuditLog, OAuthIdentity, User
from tests.conftest import DEFAULT_PASSWORD
from tests.peers.oidc import follow_provider

OCTO_EMAILS = [{"email": "alice@example.com", "primary": True, "verified": True}]


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def signed_in_user_id(client) -> str | None:
    with client.session_transaction() as session:
        return (session.get("_user_id") or "").split(":")[0] or None


def audit(event: str) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.event == event)))


def google_sign_in(client, who: str = "alice-sub"):
    return follow_provider(client, client.get("/auth/oauth/google/start"), login_hint=who)


def identity(provider: str, subject: str) -> OAuthIdentity | None:
    db.session.expire_all()
    return db.session.scalar(OAuthIdentity.lookup(provider, subject))


# --- a provider email that matches an existing account ------------------------------------------


def test_matching_email_waits_for_the_password_then_links(client, google, make_user):
    alice = make_user(email="alice@example.com")

    done = google_sign_in(client)

    assert done.status_code == 302 and done.headers["Location"] == "/auth/oauth/pending"
    assert signed_in_user_id(client) is None  # no sign-in on the strength of the email alone
    pending = identity("google", "alice-sub")
    assert pending.user_id == alice.id and not pending.is_linked
    page = client.get("/auth/oauth/pending").get_data(as_text=True)
    assert "You already have an account" in page and "alice@example.com" in page

    wrong = client.post("/auth/oauth/pending/password", data={"password": "not my password"})
    assert wrong.status_code == 422
    assert "That password is not right." in wrong.get_data(as_text=True)
    assert not identity("google", "alice-sub").is_linked
    assert audit("sign_in_failed")

    right = client.post("/auth/oauth/pending/password", data={"password": DEFAULT_PASSWORD})
    assert right.status_code == 302 and right.headers["Location"] == "/settings"
    assert identity("google", "alice-sub").is_linked
    assert signed_in_user_id(client) == str(alice.id)
    assert [e.details["via"] for e in audit("oauth_linked")] == ["password"]
    assert count(User) == 1


def test_once_linked_google_signs_straight_in(client, google, make_user, new_browser):
    alice = make_user(email="alice@example.com")
    google_sign_in(client)
    client.post("/auth/oauth/pending/password", data={"password": DEFAULT_PASSWORD})

    browser = new_browser()
    done = google_sign_in(browser)

    assert done.status_code == 302 and done.headers["Location"] != "/auth/oauth/pending"
    assert signed_in_user_id(browser) == str(alice.id)


def test_matching_email_links_through_a_single_use_emailed_link(
    client, google, make_user, mail_sink, run_jobs, new_browser
):
    alice = make_user(email="alice@example.com")
    google_sign_in(client)

    sent = client.post("/auth/oauth/pending/email")
    assert sent.status_code == 200 and "Check your email" in sent.get_data(as_text=True)
    run_jobs()
    message = mail_sink.last(to="alice@example.com")
    assert "Link your Google account" in message["Subject"]
    link = mail_sink.link(message, "/auth/oauth/confirm/")
    assert not identity("google", "alice-sub").is_linked  # sending the mail links nothing

    elsewhere = new_browser()  # e.g. the phone's mail app
    page = elsewhere.get(link)
    assert page.status_code == 200 and "Link Google?" in page.get_data(as_text=True)
    assert not identity("google", "alice-sub").is_linked  # opening the page links nothing
    done = elsewhere.post(link)
    assert done.status_code == 302
    assert identity("google", "alice-sub").is_linked
    assert signed_in_user_id(elsewhere) == str(alice.id)
    assert [e.details["via"] for e in audit("oauth_linked")] == ["email"]

    again = new_browser().post(link)
    assert again.status_code == 400  # single use
    assert "already been used" in again.get_data(as_text=True)


def test_emailed_link_expires_after_an_hour(client, google, make_user, monkeypatch):
    make_user(email="alice@example.com")
    google_sign_in(client)
    from app.services.accounts import oauth_identities

    pending = identity("google", "alice-sub")
    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 3601)
    token = oauth_identities.make_link_token(pending)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", real)

    response = client.get(f"/auth/oauth/confirm/{token}")

    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    assert not identity("google", "alice-sub").is_linked


def test_a_newer_sign_in_retires_the_older_emailed_link(
    client, google, make_user, mail_sink, run_jobs
):
    make_user(email="alice@example.com")
    google_sign_in(client)
    client.post("/auth/oauth/pending/email")
    run_jobs()
    old_link = mail_sink.link(mail_sink.last(to="alice@example.com"), "/auth/oauth/confirm/")

    google_sign_in(client)  # a second attempt makes a new pending request

    assert client.get(old_link).status_code == 400


def test_unconfirmed_account_can_only_prove_it_with_its_password(client, google, make_user):
    make_user(email="alice@example.com", verified=False)  # anyone could have registered this
    google_sign_in(client)

    page = client.get("/auth/oauth/pending").get_data(as_text=True)
    assert "Email me a link" not in page
    refused = client.post("/auth/oauth/pending/email")
    assert refused.status_code == 409
    assert not identity("google", "alice-sub").is_linked


def test_an_account_without_password_proves_it_by_email_only(client, github, google, new_browser):
    github.add_user(
        "bobcat", id=9, emails=[{"email": "bob@example.com", "primary": True, "verified": True}]
    )
    follow_provider(client, client.get("/auth/oauth/github/start"))  # GitHub-only account
    browser = new_browser()

    google_sign_in(browser, "bob-sub")  # same verified email at Google

    page = browser.get("/auth/oauth/pending").get_data(as_text=True)
    assert "Email me a link to confirm" in page and 'name="password"' not in page
    refused = browser.post("/auth/oauth/pending/password", data={"password": "anything at all"})
    assert refused.status_code == 422
    assert not identity("google", "bob-sub").is_linked


def test_pending_page_without_a_pending_request_is_a_readable_400(client, google):
    response = client.get("/auth/oauth/pending")
    assert response.status_code == 400
    assert "This request has expired" in response.get_data(as_text=True)


def test_tampered_confirm_link_is_refused(client, google):
    response = client.get("/auth/oauth/confirm/not-a-real-token")
    assert response.status_code == 400


# --- linking and unlinking from Settings --------------------------------------------------------


def test_link_github_from_settings_while_signed_in(client, github, make_user, login):
    alice = make_user(email="alice@example.com")
    login(alice)
    github.add_user("octocat", id=42, name="Octo", emails=OCTO_EMAILS)

    started = client.post("/auth/oauth/github/link")
    done = follow_provider(client, started)

    assert done.status_code == 302 and done.headers["Location"] == "/settings"
    assert identity("github", "42").user_id == alice.id
    assert [e.details["via"] for e in audit("oauth_linked")] == ["settings"]
    settings = client.get("/settings").get_data(as_text=True)
    assert "Linked as alice@example.com" in settings and "Unlink GitHub" in settings


def test_link_requires_sign_in_and_csrf(client, github, make_user, login):
    assert client.post("/auth/oauth/github/link").status_code == 302  # to the sign-in page
    login(make_user())
    assert client.post("/auth/oauth/github/link", csrf=False).status_code == 400


def test_a_provider_account_linked_to_someone_cannot_be_linked_again(
    client, github, make_user, login
):
    github.add_user("octocat", id=42, emails=OCTO_EMAILS)
    alice = make_user(email="alice@example.com")
    login(alice)
    follow_provider(client, client.post("/auth/oauth/github/link"))

    client.post("/sign-out")
    bob = make_user(email="bob@example.com")
    login(bob)
    done = follow_provider(client, client.post("/auth/oauth/github/link"))

    assert done.status_code == 409
    assert "already linked to another Linkarooie account" in done.get_data(as_text=True)
    assert identity("github", "42").user_id == alice.id


def test_a_second_account_of_the_same_provider_is_refused(client, github, make_user, login):
    github.add_user("octocat", id=42, emails=OCTO_EMAILS)
    github.add_user("octo-work", id=43, emails=OCTO_EMAILS)
    login(make_user(email="alice@example.com"))
    follow_provider(client, client.post("/auth/oauth/github/link"), login="octocat")

    done = follow_provider(client, client.post("/auth/oauth/github/link"), login="octo-work")

    assert done.status_code == 409
    assert "You already have a GitHub account linked" in done.get_data(as_text=True)
    assert identity("github", "43") is None


def test_the_database_refuses_a_second_row_for_one_provider_account(app, make_user):
    alice, bob = make_user(email="alice@example.com"), make_user(email="bob@example.com")
    db.session.add(OAuthIdentity(user_id=alice.id, provider="github", subject="42"))
    db.session.commit()
    db.session.add(OAuthIdentity(user_id=bob.id, provider="github", subject="42"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_unlink_is_refused_for_the_last_way_to_sign_in(client, github):
    github.add_user("octocat", id=42, emails=OCTO_EMAILS)
    follow_provider(client, client.get("/auth/oauth/github/start"))  # account without password

    settings = client.get("/settings").get_data(as_text=True)
    assert "Unlink GitHub" not in settings and "Your only way to sign in" in settings
    refused = client.post("/auth/oauth/github/unlink")

    assert refused.status_code == 409
    assert "only way to sign in" in refused.get_data(as_text=True)
    assert identity("github", "42") is not None


def test_unlink_works_when_a_password_exists(client, google, make_user):
    alice = make_user(email="alice@example.com")
    google_sign_in(client)
    client.post("/auth/oauth/pending/password", data={"password": DEFAULT_PASSWORD})
    assert signed_in_user_id(client) == str(alice.id)

    done = client.post("/auth/oauth/google/unlink")

    assert done.status_code == 302 and done.headers["Location"] == "/settings"
    assert identity("google", "alice-sub") is None
    assert [e.details["provider"] for e in audit("oauth_unlinked")] == ["google"]
    assert "Google is no longer linked" in client.get("/settings").get_data(as_text=True)


def test_unlink_with_htmx_swaps_the_sign_in_methods_fragment(client, github, google):
    github.add_user(
        "octocat", id=42, emails=[{"email": "bob@example.com", "primary": True, "verified": True}]
    )
    google_sign_in(client, "bob-sub")  # account without a password, signed in with Google
    follow_provider(client, client.post("/auth/oauth/github/link"))  # ... plus GitHub

    done = client.post("/auth/oauth/github/unlink", headers={"HX-Request": "true"})

    assert done.status_code == 200
    html = done.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="sign-in-methods"') and "<html" not in html
    assert "GitHub is no longer linked" in html
    assert "Link GitHub" in html and "Your only way to sign in" in html  # Google is the last one
    refused = client.post("/auth/oauth/google/unlink", headers={"HX-Request": "true"})
    assert refused.status_code == 409 and refused.headers["HX-Retarget"] == "#alerts"


def test_unlink_of_nothing_or_an_unknown_provider(client, make_user, login):
    login(make_user())
    assert client.post("/auth/oauth/google/unlink").status_code == 404
    assert client.post("/auth/oauth/myspace/unlink").status_code == 404
