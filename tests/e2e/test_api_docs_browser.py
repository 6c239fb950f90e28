"""Headless Chromium on /api/docs: the reference reads at desktop and phone widths, an operation
opens to show its parameters, body and responses, and a schema link lands on its fields.
Screenshots land in test-artifacts/."""

from __future__ import annotations

from tests.e2e.test_sync_browser import watch_problems


def test_the_api_docs_read_on_desktop_and_phone(live_server, page):
    problems = watch_problems(page)
    page.goto(f"{live_server}/api/docs")
    assert page.locator("h1").inner_text().startswith("Linkarooie API")
    page.shot("1-desktop", full_page=False)

    schedule = page.locator("#op-api\\.create_schedule")
    schedule.locator("summary").click()
    assert schedule.locator("table.api-table").first.is_visible()
    assert "Scope: write" in schedule.inner_text()
    schedule.scroll_into_view_if_needed()
    page.shot("2-operation-open", full_page=False)

    summary = page.locator("#op-api\\.analytics_summary")
    summary.locator("summary").click()
    summary.locator("a[href='#schema-AnalyticsSummary']").click()
    assert page.evaluate("() => location.hash") == "#schema-AnalyticsSummary"
    assert page.locator("#schema-AnalyticsSummary td code", has_text="top_referrers").is_visible()
    page.shot("3-schema", full_page=False)

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/api/docs#tag-sync")
    page.locator("#op-api\\.start_sync summary").click()
    page.shot("4-phone", full_page=False)
    # nothing wider than the phone's screen
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert problems == []
