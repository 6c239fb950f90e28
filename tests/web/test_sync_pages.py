"""The sync pages: choosing what goes where, the live status page and its polled partial,
retrying, history and restore. Rows are made directly; no platform is called."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, select

from app.extensions import db
from app.models import AccountStatus, SyncRequest, SyncTask, TaskStatus
from app.services.sync import progress
from tests.sync_rows import make_account, make_images, make_release


def text_of(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def images(pat, run_jobs):
    return make_images(pat, run_jobs)


@pytest.fixture
def account(pat):
    return make_account(pat)


# Choosing


def test_without_images_the_sync_page_leads_to_upload(client, pat):
    page = text_of(client.get("/sync"))
    assert "Upload a picture first" in page
    assert 'href="/images"' in page


def test_without_accounts_the_sync_page_leads_to_connections(client, pat, images):
    page = text_of(client.get("/sync"))
    assert "Connect an account first" in page
    assert 'href="/connections"' in page


def test_the_current_images_and_connected_accounts_are_preselected(
    client, pat, images, account, run_jobs
):
    avatar, banner = images
    older, _ = make_images(pat, run_jobs, seed=9)  # a second avatar, not current
    expired = make_account(pat, handle="@old@masto.example", status=AccountStatus.EXPIRED)
    page = text_of(client.get("/sync"))
    assert re.search(rf'name="avatar_id" value="{avatar.id}"\s+checked', page)
    assert re.search(rf'name="avatar_id" value="{older.id}">', page)  # a choice, not chosen
    assert re.search(rf'name="banner_id" value="{banner.id}"\s+checked', page)
    assert re.search(rf'name="account_ids" value="{account.id}"\s+checked', page)
    assert re.search(rf'name="account_ids" value="{expired.id}"\s+disabled', page)
    assert "Needs reconnecting" in page
    assert 'src="' in page and "Current" in page  # thumbnails, with the current ones marked


def test_syncing_the_chosen_images_opens_the_status_page(client, pat, images, account):
    avatar, _banner = images
    response = client.post(
        "/sync", data={"choose": "1", "avatar_id": str(avatar.id), "banner_id": "",
                       "account_ids": [str(account.id)]},
    )  # fmt: skip
    assert response.status_code == 303
    release = db.session.scalar(select(SyncRequest))
    assert response.headers["Location"].endswith(f"/sync/{release.id}")
    assert [(t.slot, t.status) for t in release.tasks] == [("avatar", TaskStatus.QUEUED)]
    page = text_of(client.get(response.headers["Location"]))
    assert "@alice@masto.example" in page and "Queued" in page
    assert 'hx-trigger="every 1500ms"' in page


def test_choosing_no_account_explains_itself(client, pat, images, account):
    response = client.post("/sync", data={"choose": "1", "avatar_id": str(images[0].id)})
    assert response.status_code == 422
    assert "Choose at least one account to sync to." in text_of(response)
    assert db.session.scalar(select(SyncRequest)) is None


def test_sync_everywhere_sends_the_current_images_to_every_account(client, pat, images, account):
    second = make_account(pat, platform="bluesky", handle="@alice.bsky.social")
    response = client.post("/sync")
    assert response.status_code == 303
    release = db.session.scalar(select(SyncRequest))
    assert release.avatar_image_id == images[0].id and release.banner_image_id == images[1].id
    assert {t.account_id for t in release.tasks} == {account.id, second.id}


def test_sync_everywhere_without_an_account_leads_to_connections(client, pat, images):
    response = client.post("/sync", follow_redirects=True)
    assert response.request.path == "/connections"
    assert "Connect an account first" in text_of(response)


def test_the_library_and_the_crop_editor_offer_sync_everywhere(client, pat, images):
    library = text_of(client.get("/images"))
    assert "Sync everywhere" in library and 'action="/sync"' in library
    crop = text_of(client.get(f"/images/{images[0].id}/crop"))
    assert "Files ready" in crop and "Sync everywhere" in crop


# The status page


def test_the_status_page_shows_every_task_readably(client, pat, images, account):
    release = make_release(
        pat,
        account,
        avatar=images[0],
        banner=images[1],
        statuses={"avatar": TaskStatus.RETRYING, "banner": TaskStatus.FAILED},
        error="Mastodon answered 502; will try again.",
    )
    page = text_of(client.get(f"/sync/{release.id}"))
    assert "@alice@masto.example" in page and "Mastodon" in page
    assert "Retrying" in page and "Failed" in page
    assert re.search(r'<time datetime="[^"]+" data-relative="future">in 4\d s</time>', page)
    assert "Mastodon answered 502; will try again." in page
    assert page.count(">Retry</button>") == 1  # only the failed task
    assert "js/sync.js" in page


def test_a_task_that_needs_reconnecting_links_to_connections(client, pat, images, account):
    release = make_release(
        pat,
        account,
        avatar=images[0],
        statuses={"avatar": TaskStatus.NEEDS_RECONNECT},
        error="Mastodon refused our access: The access token was revoked",
    )
    page = text_of(client.get(f"/sync/{release.id}"))
    assert "Needs reconnecting" in page and "The access token was revoked" in page
    assert f'href="/connections#account-{account.id}"' in page and ">Reconnect</a>" in page


def test_retry_queues_the_task_again_and_rerenders(client, pat, images, account):
    release = make_release(
        pat, account, avatar=images[0], statuses={"avatar": TaskStatus.FAILED}, error="Nope."
    )
    task_id = release.tasks[0].id
    response = client.post(f"/sync/tasks/{task_id}/retry", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert 'id="sync-status"' in text_of(response) and "Queued" in text_of(response)
    assert 'hx-trigger="every 1500ms"' in text_of(response)  # polling again
    task = db.session.get(SyncTask, task_id)
    assert task.status is TaskStatus.QUEUED and task.attempts == 0 and task.error is None
    plain = client.post(f"/sync/tasks/{task_id}/retry")
    assert plain.status_code == 303 and plain.headers["Location"].endswith(f"/sync/{release.id}")


# The polled partial


def test_the_partial_polls_while_unfinished_and_stops_with_286(client, pat, images, account):
    release = make_release(pat, account, avatar=images[0], statuses={"avatar": TaskStatus.RUNNING})
    running = client.get(f"/sync/{release.id}/status", headers={"HX-Request": "true"})
    assert running.status_code == 200
    assert running.headers["Cache-Control"] == "private, no-cache" and running.headers["ETag"]
    assert 'hx-trigger="every 1500ms"' in text_of(running) and "Running" in text_of(running)

    task = release.tasks[0]
    task.status = TaskStatus.SUCCEEDED
    progress.changed_on_commit(release.id, pat.id)
    db.session.commit()
    done = client.get(
        f"/sync/{release.id}/status", headers={"If-None-Match": running.headers["ETag"]}
    )
    assert done.status_code == 286
    assert "Succeeded" in text_of(done) and "hx-trigger" not in text_of(done)
    assert done.headers["ETag"] != running.headers["ETag"]


def test_an_unchanged_status_answers_304_without_a_query(app, client, pat, images, account):
    release = make_release(pat, account, avatar=images[0], statuses={"avatar": TaskStatus.QUEUED})
    url = f"/sync/{release.id}/status"
    etag = client.get(url).headers["ETag"]

    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    db.session.remove()  # nothing left over from the test's own session
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = client.get(url, headers={"If-None-Match": etag, "HX-Request": "true"})
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert response.status_code == 304
    assert response.headers["ETag"] == etag
    assert statements == []


def test_the_fast_path_never_answers_someone_else(client, pat, images, account, make_user, login):
    release = make_release(pat, account, avatar=images[0], statuses={"avatar": TaskStatus.QUEUED})
    url = f"/sync/{release.id}/status"
    etag = client.get(url).headers["ETag"]
    client.post("/sign-out")
    signed_out = client.get(url, headers={"If-None-Match": etag})
    assert signed_out.status_code in (302, 401)
    login(make_user(email="ivan@example.com"))
    response = client.get(url, headers={"If-None-Match": etag})
    assert response.status_code == 404


# History


def test_history_lists_releases_newest_first_with_outcomes(client, pat, images, account):
    avatar, banner = images
    first = make_release(pat, account, avatar=avatar, banner=banner)
    second = make_release(
        pat,
        account,
        avatar=avatar,
        statuses={"avatar": TaskStatus.FAILED},
        error="Too big.",
    )
    page = text_of(client.get("/history"))
    assert page.index(f"Sync #{second.id}") < page.index(f"Sync #{first.id}")
    assert "Succeeded" in page and "Failed" in page and "Partly done" not in page
    assert "@alice@masto.example" in page
    assert page.count('class="release-thumb release-thumb-avatar"><img') == 2
    assert 'class="release-thumb release-thumb-banner"><img' in page
    assert page.count(">Restore</button>") == 2


def test_history_survives_deleted_images(client, pat, images, account):
    avatar, banner = images
    release = make_release(pat, account, avatar=avatar, banner=banner)
    release.avatar_image_id = None
    release.banner_image_id = None
    db.session.commit()
    page = text_of(client.get("/history"))
    assert "Avatar deleted" in page and "Images deleted" in page
    response = client.post(f"/history/{release.id}/restore")
    assert response.status_code == 409
    assert "cannot be restored" in text_of(response)


def test_restore_starts_a_new_release_with_the_earlier_images(
    client, pat, images, account, run_jobs
):
    avatar, banner = images
    earlier = make_release(pat, account, avatar=avatar, banner=banner)
    make_images(pat, run_jobs, seed=20)  # newer pictures exist; the earlier ones come back
    response = client.post(f"/history/{earlier.id}/restore")
    assert response.status_code == 303
    new = db.session.scalars(select(SyncRequest).order_by(SyncRequest.id.desc())).first()
    assert response.headers["Location"].endswith(f"/sync/{new.id}")
    assert new.restored_from_id == earlier.id
    assert (new.avatar_image_id, new.banner_image_id) == (avatar.id, banner.id)
    page = text_of(client.get(response.headers["Location"]))
    assert "Restoring an earlier look" in page


def test_the_nav_links_the_new_pages(client, pat):
    page = text_of(client.get("/sync"))
    for href in ('href="/images"', 'href="/connections"', 'href="/sync"', 'href="/history"'):
        assert href in page
