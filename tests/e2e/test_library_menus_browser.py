"""The Download menu on image cards: it closes after a download and never eats the next click."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.support import poll_until, sign_in
from tests.unit import images as gen


def click_once(page, locator) -> None:
    """One real mouse click where the element is drawn: whatever lies on top receives it, as it
    would for a person (Playwright's locator.click() waits for a clear path and retries)."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def test_one_click_after_a_download_reaches_what_it_was_meant_for(
    live_server, page, make_user, run_jobs, tmp_path
):
    make_user(email="pat@example.com", name="Pat")
    sign_in(page, live_server, "pat@example.com")
    page.goto(f"{live_server}/images")
    for seed in (1, 2):
        path = tmp_path / f"face-{seed}.png"
        path.write_bytes(gen.png(gen.photo(480, 480, seed=seed)))
        page.set_input_files("#upload-file", str(path))
        page.wait_for_selector(f"#grid-avatar .image-card:has-text('{path.name}')")
    poll_until(page, run_jobs, "#grid-avatar .image-card[data-status=ready] >> nth=1")
    first = page.locator("#grid-avatar .image-card:has-text('face-1.png')")
    second = page.locator("#grid-avatar .image-card:has-text('face-2.png')")

    click_once(page, first.locator("summary", has_text="Download"))
    expect(first.locator("details.downloads")).to_have_attribute("open", "")
    with page.expect_download() as download:
        click_once(page, first.get_by_role("link", name="X avatar"))
    assert download.value.suggested_filename.endswith(".jpg")
    expect(first.locator("details.downloads")).not_to_have_attribute("open", "")  # closed

    # the other card's menu opens with one click...
    click_once(page, second.locator("summary", has_text="Download"))
    expect(second.get_by_role("link", name="Bluesky avatar")).to_be_visible()
    page.shot("second-menu-open")
    # ...a click outside closes it without doing anything else...
    click_once(page, page.locator("h1"))
    expect(second.get_by_role("link", name="Bluesky avatar")).to_be_hidden()
    # ...and Escape closes a menu too
    click_once(page, second.locator("summary", has_text="Download"))
    page.keyboard.press("Escape")
    expect(second.get_by_role("link", name="Bluesky avatar")).to_be_hidden()

    click_once(page, second.locator("summary", has_text="Download"))
    with page.expect_download():
        click_once(page, second.get_by_role("link", name="Bluesky avatar"))
    click_once(page, page.get_by_role("button", name="Sign out"))  # one click signs out
    expect(page.get_by_text("You are signed out")).to_be_visible()
