"""Headless Chromium on /settings/data: press "Download your data" (htmx), watch the section
poll while the job builds, then download the zip from the link it shows. Screenshots land in
test-artifacts/."""

from __future__ import annotations

import zipfile

from tests.e2e.support import poll_until, sign_in
from tests.e2e.test_sync_browser import mark_page, still_same_page, watch_problems


def test_ask_for_an_export_watch_it_build_and_download_it(
    live_server, page, make_user, run_jobs, tmp_path
):
    problems = watch_problems(page)
    make_user(email="pat@example.com", name="Pat")
    sign_in(page, live_server, "pat@example.com")

    page.goto(f"{live_server}/settings")
    page.click("a:has-text('Your data')")
    page.wait_for_url(f"{live_server}/settings/data")
    mark_page(page)
    page.shot("1-page")

    page.click("button:has-text('Download your data')")
    page.locator("text=waiting to be built").wait_for()
    assert still_same_page(page)  # swapped in place
    assert page.locator("button:has-text('Download your data')").count() == 0
    page.shot("2-queued")

    poll_until(page, run_jobs, "a:has-text('Download the zip')")
    page.shot("3-ready")
    with page.expect_download() as info:
        page.click("a:has-text('Download the zip')")
    saved = tmp_path / "export.zip"
    info.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        assert "README.txt" in archive.namelist() and "data/users.json" in archive.namelist()
    assert problems == []
