"""Headless Chromium on /profile: the limits under the bio follow the typing, and links are
added, reordered and removed without a page reload, all under the site's CSP.

Screenshots land in test-artifacts/ (the bio too long for X, the links after reordering).
"""

from __future__ import annotations

from app.extensions import db
from app.models import Profile
from tests.e2e.support import sign_in
from tests.e2e.test_sync_browser import mark_page, still_same_page, watch_problems


def test_limits_follow_the_typing_and_links_change_in_place(live_server, page, make_user):
    problems = watch_problems(page)
    user = make_user(email="pat@example.com", name="Pat")
    sign_in(page, live_server, "pat@example.com")
    page.goto(f"{live_server}/profile")
    mark_page(page)
    limits = page.locator("#limits-bio")
    assert "X 0/160" in limits.inner_text()

    page.locator("#profile-bio").fill("b" * 170)
    page.wait_for_selector("#limits-bio:has-text('X 170/160')")
    assert "too long for X" in page.locator("#limits-bio").inner_text()
    page.shot("profile-1-bio-too-long-for-x", full_page=True)

    for label in ("First", "Second"):
        page.fill("#link-label", label)
        page.fill("#link-url", f"https://{label.lower()}.example")
        page.click("button:has-text('Add link')")
        page.wait_for_selector(f".profile-links li:has-text('{label}')")
    page.click("button[aria-label='Move Second up']")
    page.wait_for_function(
        "() => document.querySelector('.profile-links li .link-label').textContent === 'Second'"
    )
    page.shot("profile-2-links-reordered", full_page=True)
    page.click("button[aria-label='Remove First']")
    page.wait_for_selector(".profile-links li:has-text('First')", state="detached")

    assert still_same_page(page)
    db.session.expire_all()
    assert [link["label"] for link in db.session.get(Profile, user.id).links] == ["Second"]
    assert not problems, problems
