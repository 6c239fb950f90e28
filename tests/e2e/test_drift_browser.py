"""Headless Chromium on /connections after the drift watch found a changed avatar: both
pictures load (theirs from our own storage, as the CSP wants), and "Put ours back" swaps the
account's row in place. A screenshot lands in test-artifacts/."""

from __future__ import annotations

from app.extensions import db
from app.models import PlatformAccount
from app.services.sync import drift, releases
from tests.drift_support import their_picture
from tests.e2e.support import sign_in, wait_js
from tests.e2e.test_sync_browser import mark_page, still_same_page, watch_problems
from tests.sync_support import connect_mastodon, ready_images, settle
from tests.web.test_drift_watch import person_sets


def test_a_changed_avatar_is_shown_and_put_back(
    live_server, page, make_user, run_jobs, fake_mastodon
):
    problems = watch_problems(page)
    user = make_user(email="pat@example.com", name="Pat")
    account = connect_mastodon(user, fake_mastodon, "alice")
    ready_images(user, run_jobs)
    release = releases.start(user)
    db.session.commit()
    assert settle(run_jobs, release.id).status == "succeeded"
    person_sets(fake_mastodon, "alice", "avatar", their_picture(seed=60))
    drift.check(db.session.get(PlatformAccount, account.id))
    db.session.commit()

    sign_in(page, live_server, "pat@example.com")
    page.goto(f"{live_server}/connections")
    row = f"#account-{account.id}"
    assert "Changed on Mastodon" in page.locator(row).inner_text()
    for alt in ("The avatar Mastodon shows now", "Your avatar from Linkarooie"):
        image = page.locator(f'{row} img[alt="{alt}"]')
        image.wait_for()
        wait_js(page, f"""document.querySelector('{row} img[alt="{alt}"]').naturalWidth > 0""")
    page.locator(row).scroll_into_view_if_needed()
    page.shot("drift-connections")

    mark_page(page)
    page.get_by_role("button", name="Put ours back").click()
    page.locator(f"{row} .drift-notice").wait_for()
    assert "Putting your avatar back" in page.locator(row).inner_text()
    assert "Changed on Mastodon" not in page.locator(row).inner_text()
    assert still_same_page(page)  # the row was swapped, not the page reloaded
    assert problems == []
