"""Headless Chromium on /connections: the expiry countdown ticks in the page (the CSP allows
the script; no inline script), and a screenshot of the rows lands in test-artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.extensions import db
from app.models import AccountSlot, AccountStatus
from tests.e2e.support import sign_in, wait_js
from tests.e2e.test_sync_browser import watch_problems
from tests.sync_rows import make_account


def test_the_expiry_countdown_ticks_in_the_page(live_server, page, make_user):
    problems = watch_problems(page)
    user = make_user(email="pat@example.com", name="Pat")
    now = datetime.now(UTC)
    ends = make_account(user, handle="@pat@masto.example")
    ends.expires_at = now + timedelta(days=3, hours=1)
    db.session.add(AccountSlot(account_id=ends.id, slot="avatar", sha256="0" * 64, pushed_at=now))
    make_account(
        user,
        platform="bluesky",
        handle="@pat.bsky.social",
        instance_url="https://pds.example",
        status=AccountStatus.EXPIRED,
        last_error="Bluesky no longer accepts this app password (HTTP 401); reconnect.",
    )
    db.session.commit()

    sign_in(page, live_server, "pat@example.com")
    page.goto(f"{live_server}/connections")
    countdown = page.locator(f"#account-{ends.id} .account-token time")
    assert countdown.inner_text() == "Access expires in 3 days"
    page.shot("connections-health")

    # the page stays open while the moment comes closer: the script says so, no reload
    soon = (datetime.now(UTC) + timedelta(hours=5, minutes=30)).isoformat()
    page.evaluate(
        """([selector, moment]) => {
             document.querySelector(selector).setAttribute("datetime", moment);
             document.dispatchEvent(new Event("htmx:afterSwap"));
           }""",
        [f"#account-{ends.id} .account-token time", soon],
    )
    wait_js(
        page,
        f"""document.querySelector("#account-{ends.id} .account-token time")
                      .textContent === "Access expires in 5 hours" """,
    )
    pushed = page.locator(f"#account-{ends.id} .account-pushed time").inner_text()
    assert pushed == "less than a minute ago"
    assert problems == []
