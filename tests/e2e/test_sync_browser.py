"""Headless Chromium: connect a Mastodon account on the loopback fake, pick images, sync and
watch the statuses change without reloading, then restore an earlier release from History.

Jobs run with run_jobs() from the test thread while the page polls; screenshots land in
test-artifacts/ (connections, sync, a release mid-sync and finished, history).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select

from app.extensions import db
from app.models import Image, SyncRequest, SyncTask, TaskStatus
from app.services.images import library
from tests.e2e.support import poll_until, sign_in
from tests.sync_rows import make_account, make_images, make_release


def watch_problems(page) -> list[str]:
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def mark_page(page) -> None:
    """A marker that a reload or navigation would wipe out."""
    page.evaluate("() => { window.lkSamePage = true; }")


def still_same_page(page) -> bool:
    return page.evaluate("() => window.lkSamePage === true")


def test_connect_sync_watch_and_restore(live_server, page, make_user, run_jobs, fake_mastodon):
    problems = watch_problems(page)
    user = make_user(email="pat@example.com", name="Pat")
    first_avatar, first_banner = make_images(user, run_jobs, seed=1)
    first_ids = (first_avatar.id, first_banner.id)
    sign_in(page, live_server, "pat@example.com")

    # 1. Connect Mastodon: the instance's authorize page approves and sends the browser back.
    page.goto(f"{live_server}/connections")
    page.shot("1-connections-empty")
    page.fill("#mastodon-instance", fake_mastodon.url)
    page.click("#platform-mastodon button[type=submit]")
    page.wait_for_url(f"{live_server}/connections")
    handle = f"@alice@{urlsplit(fake_mastodon.url).netloc}"
    row = page.locator(".account-row", has_text=handle)
    assert "Connected" in row.inner_text()
    page.shot("2-connections-connected")

    # 2. A newer avatar arrives; the sync page preselects it, and the person picks the first one.
    newer_images = make_images(user, run_jobs, seed=30)
    page.goto(f"{live_server}/sync")
    assert page.locator(".image-choice-avatar input:checked").count() == 1
    assert page.locator("input[name=account_ids]:checked").count() == 1
    page.check(f"input[name=avatar_id][value='{first_ids[0]}']")
    page.check(f"input[name=banner_id][value='{first_ids[1]}']")
    page.shot("3-sync-choose")
    page.click("button.sync-button")
    page.wait_for_url(f"{live_server}/sync/*")
    assert page.locator(".task-row").count() == 2
    assert "Queued" in page.locator("#sync-status").inner_text()
    page.shot("4-sync-queued")

    # 3. The worker pushes; the page shows it without a reload.
    mark_page(page)
    poll_until(page, run_jobs, ".task-row[data-status=succeeded] >> nth=1")
    poll_until(page, run_jobs, "#sync-status[data-status=succeeded]")
    assert still_same_page(page)
    assert page.locator(".task-row", has_text="Succeeded").count() == 2
    assert "All done" in page.locator("#sync-status").inner_text()
    page.shot("5-sync-finished")
    assert fake_mastodon.current("alice")["avatar"] is not None

    # 4. The newer pictures become current and go out with "Sync everywhere" from the library.
    for image in newer_images:
        library.set_current(db.session.get(Image, image.id))
    db.session.commit()
    page.goto(f"{live_server}/images")
    page.click("text=Sync everywhere")
    page.wait_for_url(f"{live_server}/sync/*")
    poll_until(page, run_jobs, "#sync-status[data-status=succeeded]")
    newer = fake_mastodon.current("alice")["avatar"]

    # 5. History: newest first; restore the first release.
    page.goto(f"{live_server}/history")
    cards = page.locator(".release-card")
    assert cards.count() == 2
    page.shot("6-history")
    earliest = db.session.scalars(select(SyncRequest).order_by(SyncRequest.id)).first()
    page.click(f"#release-{earliest.id} button:has-text('Restore')")
    page.wait_for_url(f"{live_server}/sync/*")
    assert "Restoring an earlier look" in page.inner_text("h1")
    mark_page(page)
    poll_until(page, run_jobs, "#sync-status[data-status=succeeded]")
    assert still_same_page(page)
    assert fake_mastodon.current("alice")["avatar"] != newer
    restored = db.session.scalars(select(SyncRequest).order_by(SyncRequest.id.desc())).first()
    assert (restored.avatar_image_id, restored.banner_image_id) == first_ids
    page.goto(f"{live_server}/history")
    assert page.locator(".release-card").count() == 3
    assert f"restored from #{earliest.id}" in page.inner_text(".release-list")
    assert not problems, problems


def test_trouble_is_readable_and_retryable(live_server, page, make_user, run_jobs):
    """A release in trouble (rows made directly): the reasons, the next try counting down,
    Reconnect and Retry. Retry puts the task back in the queue and polling resumes."""
    problems = watch_problems(page)
    user = make_user(email="pat@example.com", name="Pat")
    avatar, banner = make_images(user, run_jobs, seed=4)
    ok = make_account(user, handle="@pat@fine.example")
    broken = make_account(user, handle="@pat@gone.example")
    make_release(user, ok, avatar=avatar, banner=banner)  # an earlier, good one for History
    release = make_release(
        user,
        ok,
        avatar=avatar,
        banner=banner,
        statuses={"avatar": TaskStatus.RETRYING, "banner": TaskStatus.FAILED},
        error="The platform could not be reached; will try again.",
    )
    release.tasks.append(  # one page showing every kind of trouble
        SyncTask(
            user_id=user.id,
            account_id=broken.id,
            slot="avatar",
            image_id=avatar.id,
            preset_key="mastodon_avatar",
            status=TaskStatus.NEEDS_RECONNECT,
            attempts=1,
            error="Mastodon refused our access: The access token was revoked",
        )
    )
    db.session.commit()
    sign_in(page, live_server, "pat@example.com")

    page.goto(f"{live_server}/sync/{release.id}")
    countdown = page.locator(".task-retrying time[data-relative]")
    first = countdown.inner_text()
    assert first.startswith("in ")
    page.wait_for_timeout(2100)
    assert countdown.inner_text() != first  # it ticks between polls
    assert page.locator(".task-needs_reconnect a:has-text('Reconnect')").count() == 1
    page.shot("7-sync-trouble")

    mark_page(page)
    page.click(".task-failed button:has-text('Retry')")
    page.wait_for_selector(".task-row[data-status=queued]")
    assert still_same_page(page)
    assert page.locator("#sync-status[hx-trigger]").count() == 1  # polling again
    db.session.expire_all()
    assert db.session.get(Image, avatar.id) is not None
    page.goto(f"{live_server}/history")
    page.shot("8-history-mixed")
    assert not problems, problems
