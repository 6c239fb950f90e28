"""A person signs up in headless Chromium, confirms through the real mail sink, signs out and in."""

from __future__ import annotations

import re

from playwright.sync_api import expect

PASSWORD = "marble falcon sunrise"


def test_sign_up_verify_sign_out_and_in(live_server, page, mail_sink, run_jobs):
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )

    page.goto(live_server + "/")
    page.get_by_role("link", name="Sign up").first.click()
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    page.shot("1-sign-up")

    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text("Use between 10 and 256 characters.")).to_be_visible()
    page.shot("2-sign-up-error")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    # one banner says it all (not a welcome alert and a verify banner repeating each other)
    notices = page.locator("#alerts .alert, .verify-banner")
    expect(notices).to_have_count(1)
    expect(notices).to_contain_text("Welcome, Grace Hopper!")
    expect(notices).to_contain_text("grace@example.com")
    expect(notices.get_by_role("button", name="Resend link")).to_be_visible()
    page.shot("3-signed-up-unverified")

    page.get_by_role("link", name="Images").click()  # the next page: the usual reminder
    expect(notices).to_have_count(1)
    expect(notices).to_contain_text("Please confirm your email address")
    notices.get_by_role("button", name="Resend link").click()
    expect(notices).to_have_count(1)
    expect(notices).to_contain_text("We sent a new confirmation link to grace@example.com.")
    page.shot("3b-link-sent-again")

    assert run_jobs() >= 1
    link = mail_sink.link(mail_sink.last(to="grace@example.com"), "/verify/", path_only=False)
    assert link.startswith(live_server)
    page.goto(link)
    expect(page.get_by_text("Your email address is confirmed")).to_be_visible()
    expect(page.locator(".verify-banner")).to_have_count(0)
    page.shot("4-verified")

    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()
    expect(page.get_by_text("Confirmed", exact=True)).to_be_visible()
    page.get_by_placeholder("e.g. Deploy script").fill("Laptop script")
    page.get_by_role("button", name="Create token").click()  # htmx swaps the section in place
    expect(page.get_by_label("New API token")).to_have_value(re.compile(r"^lk_"))
    page.shot("5-settings-token")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out")).to_be_visible()
    page.shot("6-signed-out")

    page.get_by_role("link", name="Sign in").first.click()
    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Password").fill("wrong password here")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("That email and password do not match an account.")).to_be_visible()
    page.shot("7-sign-in-error")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Keep me signed in on this device").check()
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.shot("8-signed-in-again")

    assert not csp_errors, csp_errors


def test_pages_on_a_phone(live_server, page, make_user):
    make_user(verified=False)
    make_user(email="vera@example.com", name="Vera")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server + "/sign-in")
    page.shot("phone-sign-in")
    for email, name in (("alice@example.com", "unverified"), ("vera@example.com", "verified")):
        page.goto(live_server + "/sign-in")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Sign in").click()
        page.goto(live_server + "/settings")
        expect(page.locator(".verify-banner")).to_have_count(1 if name == "unverified" else 0)
        # Nothing sticks out sideways on a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.shot(f"phone-settings-{name}")
        page.get_by_role("button", name="Sign out").click()


def test_forgot_and_reset_in_the_browser(live_server, page, make_user, mail_sink, run_jobs):
    make_user()
    page.goto(live_server + "/sign-in")
    page.get_by_role("link", name="Forgot your password?").click()
    page.shot("forgot")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    page.shot("forgot-sent")

    run_jobs()
    message = mail_sink.last(to="alice@example.com")
    link = mail_sink.link(message, "/reset-password/", path_only=False)
    page.goto("about:blank")  # leave our origin: its CSP (rightly) blocks the mail's inline styles
    page.set_content(mail_sink.html(message))  # how the HTML mail looks
    page.shot("reset-mail")

    page.goto(link)
    page.get_by_label("New password").fill("lilac glacier trumpet")
    page.shot("reset-form")
    page.get_by_role("button", name="Save new password").click()
    expect(page.get_by_text("Your password is changed")).to_be_visible()

    page.goto(link)  # a second use
    expect(page.get_by_role("heading", name="This link cannot be used")).to_be_visible()
    page.shot("reset-link-used")


def test_the_csp_lets_link_account_post_through_to_the_provider(
    live_server, page, make_user, github
):
    """ "Link GitHub" is a POST answered by a redirect to GitHub; Chromium checks form-action on
    that redirect, so the CSP must list configured providers (the fake one here)."""
    github.redirect_uri = f"{live_server}/auth/oauth/github/callback"
    github.add_user(
        "alice-gh",
        id=7,
        name="Alice",
        emails=[{"email": "alice@example.com", "primary": True, "verified": True}],
    )
    make_user()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    page.goto(f"{live_server}/sign-in")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.goto(f"{live_server}/settings")
    page.get_by_role("button", name="Link GitHub").click()
    page.wait_for_load_state()
    page.goto(f"{live_server}/settings")
    expect(page.locator("#method-github")).to_contain_text("Linked as")
    assert not blocked, blocked
