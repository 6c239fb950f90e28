"""Headless Chromium on /settings/webhooks: add an endpoint (htmx, the secret shown once), send
a test event that the loopback receiver verifies with `standardwebhooks`, see it in the log.
Screenshots land in test-artifacts/."""

from __future__ import annotations

import re

from tests.e2e.support import sign_in
from tests.e2e.test_sync_browser import mark_page, still_same_page, watch_problems


def test_add_an_endpoint_and_send_a_test_event(
    live_server, page, make_user, run_jobs, webhook_receiver
):
    problems = watch_problems(page)
    make_user(email="pat@example.com", name="Pat")
    sign_in(page, live_server, "pat@example.com")

    page.goto(f"{live_server}/settings")
    page.click("a:has-text('Webhooks')")
    page.wait_for_url(f"{live_server}/settings/webhooks")
    mark_page(page)

    page.fill("#webhook-url", webhook_receiver.url + "/hooks")
    page.uncheck("input[name=events][value='image.ready']")
    page.shot("1-form")
    page.click("form.webhook-form button[type=submit]")
    secret_box = page.locator("input[aria-label='Signing secret']")
    secret_box.wait_for()
    secret = secret_box.input_value()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/=]+", secret)
    assert still_same_page(page)  # swapped in place
    card = page.locator("article.webhook").first
    assert "Enabled" in card.inner_text() and "image.ready" not in card.inner_text()
    page.shot("2-added")

    webhook_receiver.secret = secret
    card.locator("button:has-text('Send test event')").click()
    page.locator("text=Test event queued").wait_for()
    run_jobs()
    [got] = webhook_receiver.received
    assert got.verified and got.payload["type"] == "webhook.test"

    page.reload()
    log = page.locator("table.webhook-log")
    log.wait_for()
    assert "webhook.test" in log.inner_text() and "204" in log.inner_text()
    assert secret not in page.content()  # shown once
    page.shot("3-log")
    assert problems == []
