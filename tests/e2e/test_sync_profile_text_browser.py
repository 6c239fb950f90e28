"""Headless Chromium: ticking "Profile text" on /sync shows what each account will get; the
preview follows the accounts ticked above without a reload, and an unticked platform is left
out of the release."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import SyncRequest
from app.services import profiles
from tests.e2e.support import sign_in
from tests.sync_rows import make_account


def test_the_preview_follows_the_choices_and_an_unticked_platform_is_left_out(
    live_server, page, make_user
):
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    user = make_user(email="pat@example.com", name="Pat")
    profiles.update(user, {"display_name": "Pat Example", "bio": "🦉 " + "hoot " * 80})
    db.session.commit()
    masto = make_account(user)
    sky = make_account(user, platform="bluesky", handle="@pat.bsky.social")
    sign_in(page, live_server, "pat@example.com")

    page.goto(f"{live_server}/sync")
    preview = page.locator("#profile-preview")
    assert not preview.is_visible()  # until the person asks for the text
    page.check("input[name=profile]")
    assert preview.is_visible()
    bluesky = page.locator(f"#text-preview-{sky.id}")
    assert "Cut to fit (256 graphemes)" in bluesky.inner_text()
    page.shot("sync-profile-preview")

    # Unticking Bluesky above redraws the preview without it; ticking it again brings it back.
    page.uncheck(f"input[name=account_ids][value='{sky.id}']")
    page.wait_for_selector(f"#text-preview-{sky.id}", state="detached")
    page.check(f"input[name=account_ids][value='{sky.id}']")
    page.wait_for_selector(f"#text-preview-{sky.id}")

    # Leave Mastodon's text as it is; only Bluesky gets it.
    page.uncheck(f"input[name=profile_account_ids][value='{masto.id}']")
    page.click("button.sync-button")
    page.wait_for_url(f"{live_server}/sync/*")
    assert "Profile text" in page.locator("#sync-status").inner_text()
    db.session.expire_all()
    release = db.session.scalar(select(SyncRequest))
    # No pictures uploaded: a text-only release, to Bluesky alone.
    assert [(t.account_id, t.slot) for t in release.tasks] == [(sky.id, "profile")]
    assert problems == []
