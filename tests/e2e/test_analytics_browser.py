"""Headless Chromium: the analytics dashboard after seeded traffic (tests/analytics_support.py)
draws its three charts with the vendored Chart.js, with no console error, at desk and phone
widths; the range links and a CSV download work. Screenshots land in test-artifacts/."""

from __future__ import annotations

from tests.analytics_support import EXPECTED, seed
from tests.e2e.support import element_image, is_blank, sign_in, wait_js
from tests.e2e.test_sync_browser import watch_problems

CHARTS = ("#chart-visits", "#chart-followers", "#chart-sync")


def charts_drawn(page) -> None:
    wait_js(page, "window.Chart && document.querySelectorAll('canvas[data-chart]').length === 3")
    for selector in CHARTS:
        wait_js(page, f"window.Chart.getChart(document.querySelector('{selector}'))")
        canvas = page.locator(selector)
        box = canvas.bounding_box()
        assert box["width"] > 200 and box["height"] > 150, (selector, box)
        assert not is_blank(element_image(canvas)), selector


def test_dashboard_charts_at_desk_and_phone_width(live_server, page, client, make_user, run_jobs):
    problems = watch_problems(page)
    pat = make_user(email="pat@example.com", name="Pat")
    sam = make_user(email="sam@example.com")
    seed(client, run_jobs, pat, sam)
    sign_in(page, live_server, "pat@example.com")

    page.click("nav a:has-text('Analytics')")
    page.wait_for_url(f"{live_server}/analytics")
    page.click(".analytics-range a:has-text('7 days')")
    page.wait_for_url(f"{live_server}/analytics?days=7")
    assert page.get_attribute(".analytics-range a[aria-current=page]", "href").endswith("days=7")
    charts_drawn(page)
    stats = page.locator(".analytics-totals .stat").all_inner_texts()
    assert stats[:3] == [str(EXPECTED[k]) for k in ("page_views", "uniques", "link_clicks")]
    page.shot("1-desk")

    with page.expect_download() as fetched:
        page.click("a.csv-link[href*='links.csv']")
    assert fetched.value.suggested_filename.startswith("links-")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    charts_drawn(page)
    # Nothing wider than the phone: wide tables scroll inside their card.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.shot("2-phone")
    assert not problems, problems
