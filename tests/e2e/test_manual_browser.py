"""Headless Chromium: connect X on its loopback server, add Instagram as a manual platform, sync
to both, download the prepared Instagram file, press Done and see the release complete.

Screenshots land in test-artifacts/ (connections with both, the release waiting, all done).
"""

from __future__ import annotations

import io

from PIL import Image as PILImage
from sqlalchemy import select

from app.extensions import db
from app.models import PlatformAccount, SyncRequest
from app.services.images import presets
from tests.e2e.support import poll_until, sign_in
from tests.e2e.test_sync_browser import watch_problems
from tests.services.test_x_adapter import configure
from tests.sync_rows import make_images


def test_sync_to_x_and_a_manual_platform(app, live_server, page, make_user, run_jobs, fake_x):
    problems = watch_problems(page)
    user = make_user(email="pat@example.com", name="Pat")
    make_images(user, run_jobs, seed=7)
    sign_in(page, live_server, "pat@example.com")

    with configure(
        app,
        X_CLIENT_ID=fake_x.consumer_key,
        X_CLIENT_SECRET=fake_x.consumer_secret,
        X_API_BASE_URL=fake_x.url,
        X_AUTH_BASE_URL=fake_x.url,
    ):
        # 1. X: the loopback X approves (OAuth 1.0a, signatures checked) and sends us back.
        page.goto(f"{live_server}/connections")
        page.click("#platform-x button[type=submit]")
        page.wait_for_url(f"{live_server}/connections")
        assert "Connected X as @alice" in page.inner_text("body")

        # 2. Instagram has no API: "I use Instagram as @pat.doe".
        page.fill("#handle-instagram", "@pat.doe")
        page.click("#platform-instagram button[type=submit]")
        page.wait_for_url(f"{live_server}/connections")
        assert "Added Instagram (@pat.doe)" in page.inner_text("body")
        page.shot("manual-1-connections")

        # 3. Sync both; X's pushes finish on their own, Instagram waits for the person.
        page.goto(f"{live_server}/sync")
        assert page.locator("input[name=account_ids]:checked").count() == 2
        page.click("button.sync-button")
        page.wait_for_url(f"{live_server}/sync/*")
        poll_until(page, run_jobs, "#sync-status[data-status=waiting]")
        status = page.locator("#sync-status")
        assert status.locator(".task-row[data-status=succeeded]").count() == 2  # avatar, banner
        assert "Waiting for your steps" in status.inner_text()
        assert fake_x.current("alice")["avatar"] is not None
        instagram = db.session.scalar(select(PlatformAccount).filter_by(platform="instagram"))
        release = db.session.scalar(select(SyncRequest))
        [task] = [t for t in release.tasks if t.account_id == instagram.id]
        row = page.locator(f"#task-{task.id}")
        assert "Your turn" in row.inner_text()
        settings = row.locator("a.manual-settings")
        assert settings.get_attribute("href") == "https://www.instagram.com/accounts/edit/"
        page.shot("manual-2-waiting")

        # 4. The file downloads at Instagram's size.
        with page.expect_download() as download_info:
            row.locator("a.manual-file").click()
        download = download_info.value
        assert download.suggested_filename == "linkarooie-instagram-avatar-1080x1080.jpg"
        preset = presets.get("manual_instagram_avatar")
        with PILImage.open(io.BytesIO(open(download.path(), "rb").read())) as image:
            assert image.size == (preset.width, preset.height) and image.format == "JPEG"

        # 5. Done: the release is complete, without a reload.
        page.evaluate("() => { window.lkSamePage = true; }")
        row.locator("button:has-text('Done')").click()
        page.wait_for_selector("#sync-status[data-status=succeeded]")
        assert page.evaluate("() => window.lkSamePage === true")
        assert "All done" in page.locator("#sync-status").inner_text()
        assert page.locator(f"#task-{task.id}[data-status=done]").count() == 1
        page.shot("manual-3-done")
    assert not problems, problems
