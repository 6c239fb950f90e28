"""Headless Chromium: an admin watches /admin while jobs run. Queued uploads and a failing job
show; the worker runs them and the page's own refresh shows the new numbers and the failure
without a reload; Retry puts the job back and it runs.

Screenshots land in test-artifacts/ (the page with work waiting, after the run, after Retry).
"""

from __future__ import annotations

from app.extensions import db
from app.jobs import enqueue
from app.services.images import library
from tests.e2e.support import sign_in
from tests.e2e.test_sync_browser import mark_page, still_same_page, watch_problems
from tests.images import avatar_jpeg, banner_jpeg
from tests.tasks_support import fail_while_flagged


def test_the_status_page_follows_the_work(live_server, page, make_user, run_jobs, tmp_path):
    problems = watch_problems(page)
    admin = make_user(email="root@example.com", name="Root", admin=True)
    person = make_user(email="pat@example.com", name="Pat")
    for kind, data in (("avatar", avatar_jpeg(seed=2)), ("banner", banner_jpeg(seed=3))):
        library.create_upload(person.id, kind, data)
    db.session.commit()  # two images wait to be processed
    flag, out = tmp_path / "flag", tmp_path / "out"
    flag.write_text("up")
    enqueue(fail_while_flagged, str(flag), str(out))
    assert admin.is_admin

    sign_in(page, live_server, "root@example.com")
    page.goto(f"{live_server}/admin")
    images = page.locator("#admin-queues tr[data-queue=images]")
    assert images.locator("td[data-depth]").get_attribute("data-depth") == "2"
    assert page.locator("#admin-checks tr[data-ok=yes]").count() == 3
    assert page.locator("#admin-failed [data-no-failed]").count() == 1
    page.shot("admin-1-waiting", full_page=True)

    # The worker runs everything; the sections refresh themselves (every 5 s), no reload.
    mark_page(page)
    run_jobs()
    page.wait_for_selector("#admin-queues tr[data-queue=images] td[data-depth='0']")
    page.wait_for_selector("#admin-queues tr[data-queue=images] td[data-finished='2']")
    failed = page.locator("#admin-failed tr[data-job]")
    failed.first.wait_for()
    assert "the flag is up" in failed.first.inner_text()
    assert "second line" not in failed.first.inner_text()
    page.wait_for_selector("#admin-pipeline")
    assert still_same_page(page)
    page.shot("admin-2-after-run", full_page=True)

    # Retry: the job goes back on its queue and, with the flag down, runs.
    flag.unlink()
    failed.first.locator("button:has-text('Retry')").click()
    page.wait_for_selector("#admin-failed [data-no-failed]")
    run_jobs()
    assert out.read_text() == "ran\n"
    page.shot("admin-3-retried", full_page=True)
    assert not problems, problems
