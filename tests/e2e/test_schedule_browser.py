"""Headless Chromium in Berlin: the schedule page preselects the browser's time zone, a look is
scheduled with the datetime inputs, listed in Berlin time, and cancelled in place (htmx).
Screenshots land in test-artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.extensions import db
from app.models import ScheduledRelease, ScheduleStatus, User
from tests.e2e.support import sign_in
from tests.e2e.test_sync_browser import mark_page, still_same_page, watch_problems
from tests.peers.browser import ARTIFACTS
from tests.sync_rows import make_images

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def berlin_page(chromium, request):
    context = chromium.new_context(
        viewport={"width": 1280, "height": 900}, timezone_id="Europe/Berlin"
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.shot = lambda name: page.screenshot(
        path=str(ARTIFACTS / f"{request.node.name}-{name}.png"), full_page=True
    )
    yield page
    context.close()


def test_schedule_in_the_browsers_zone_and_cancel(live_server, berlin_page, make_user, run_jobs):
    page = berlin_page
    problems = watch_problems(page)
    user = make_user(email="pat@example.com", name="Pat")
    make_images(user, run_jobs, seed=1)
    holiday = make_images(user, run_jobs, seed=7)
    sign_in(page, live_server, "pat@example.com")

    page.goto(f"{live_server}/sync")
    page.click("text=Schedule a look")
    page.wait_for_url(f"{live_server}/sync/schedules")
    assert page.input_value("#time-zone") == "Europe/Berlin"  # from the browser
    assert "Detected from your browser" in page.inner_text("#time-zone-hint")

    at = (datetime.now(BERLIN) + timedelta(days=14)).replace(hour=18, minute=0, tzinfo=None)
    back = at + timedelta(days=10, hours=-9)
    page.check(f"input[name=avatar_id][value='{holiday[0].id}']")
    page.fill("input[name=at]", at.strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=revert_at]", back.strftime("%Y-%m-%dT%H:%M"))
    page.shot("1-form")
    page.click("form.schedule-form button[type=submit]")
    page.wait_for_url(f"{live_server}/sync/schedules")

    card = page.locator(".schedule-card").first
    assert at.strftime("%d %b %Y, 18:00") in card.inner_text()
    assert back.strftime("%d %b %Y, 09:00") in card.inner_text()
    stored = db.session.scalar(db.select(ScheduledRelease))
    assert stored.at == at.replace(second=0, microsecond=0, tzinfo=BERLIN).astimezone(UTC)
    assert db.session.get(User, user.id).time_zone == "Europe/Berlin"
    page.shot("2-scheduled")

    mark_page(page)
    card.locator("button:has-text('Cancel')").click()
    page.locator(".schedule-card[data-status=cancelled]").wait_for()
    assert still_same_page(page)
    assert "Cancelled" in page.locator(".schedule-card").first.inner_text()
    db.session.expire_all()
    assert db.session.get(ScheduledRelease, stored.id).status is ScheduleStatus.CANCELLED
    page.shot("3-cancelled")
    assert not problems, problems
