"""Platforms without an API: adding one as "I use Instagram as @handle", the manual steps a sync
gives it (exact files, deep link, Done / Dismiss), and the release completing through them."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image as PILImage
from sqlalchemy import select

from app.extensions import db
from app.models import AccountSlot, AccountStatus, Event, PlatformAccount, SyncRequest
from app.services.images import presets
from app.services.platforms import connections, manual_platforms
from app.services.platforms.base import Connection
from tests.sync_support import connect_mastodon, ready_images, settle
from tests.web.test_api_images import bearer

SETTINGS_PAGES = {
    "instagram": "https://www.instagram.com/accounts/edit/",
    "threads": "https://www.threads.net/",
    "linkedin": "https://www.linkedin.com/in/me/",
    "facebook": "https://www.facebook.com/me",
    "github": "https://github.com/settings/profile",
    "youtube_picture": "https://studio.youtube.com/",
    "discord": "https://discord.com/channels/@me",
    "twitch": "https://www.twitch.tv/settings/profile",
}


@pytest.fixture
def pat(make_user):
    return make_user(email="pat@example.com")


@pytest.fixture
def auth(pat):
    return bearer(pat)


def add_manual(user, platform: str, handle: str = "pat.doe") -> PlatformAccount:
    account = connections.save(user, platform, Connection(remote_id=handle, handle=f"@{handle}"))
    db.session.commit()
    return account


def test_adding_a_manual_platform_from_the_connections_page(client, login, pat):
    login(pat)
    page = client.get("/connections").get_data(as_text=True)
    for platform in manual_platforms():
        assert f'id="platform-{platform.key}"' in page
        assert f"I use {platform.service} as" in page

    added = client.post("/connections/instagram", data={"handle": "@Pat.Doe"})
    assert added.status_code == 303
    page = client.get("/connections").get_data(as_text=True)
    assert "Added Instagram (@Pat.Doe)" in page
    assert 'href="https://www.instagram.com/pat.doe/"' in page
    account = db.session.scalar(select(PlatformAccount).filter_by(platform="instagram"))
    assert account.status is AccountStatus.MANUAL and account.access_token is None

    # A pasted profile URL works too; nonsense is refused with the reason, nothing stored.
    assert (
        client.post("/connections/github", data={"handle": "https://github.com/pat"}).status_code
        == 303
    )
    refused = client.post("/connections/twitch", data={"handle": "two words!"})
    assert refused.status_code == 400
    assert "Type your Twitch username" in refused.get_data(as_text=True)
    assert db.session.scalar(select(PlatformAccount).filter_by(platform="twitch")) is None


def test_the_api_lists_manual_accounts_with_status_manual(client, auth, pat):
    account = add_manual(pat, "linkedin")
    listed = client.get("/api/v1/accounts", headers=auth).json
    assert [(a["id"], a["platform"], a["handle"], a["status"]) for a in listed] == [
        (account.id, "linkedin", "@pat.doe", "manual")
    ]


def test_manual_files_are_exactly_the_presets_sizes_and_formats(client, auth, pat, run_jobs):
    ready_images(pat, run_jobs)
    for platform in manual_platforms():
        add_manual(pat, platform.key)
    sync_id = client.post("/api/v1/sync", json={}, headers=auth).json["id"]
    settle(run_jobs, sync_id)
    status = client.get(f"/api/v1/sync/{sync_id}", headers=auth).json
    assert status["status"] == "waiting"
    expected = {
        (platform.key, slot)
        for platform in manual_platforms()
        for slot in platform.capabilities.slots
    }
    assert {(t["platform"], t["slot"]) for t in status["tasks"]} == expected
    for task in status["tasks"]:
        assert task["status"] == "manual"
        assert task["settings_url"] == SETTINGS_PAGES[task["platform"]]
        assert task["zip_url"] == f"http://localhost/api/v1/sync/{sync_id}/manual.zip"
        assert task["steps"]
        [file] = task["files"]
        preset = presets.get(file["preset"])
        assert file["preset"].startswith("manual_")
        assert (file["width"], file["height"]) == (preset.width, preset.height)
        download = client.get(file["url"].removeprefix("http://localhost"), headers=auth)
        assert download.status_code == 200
        assert len(download.data) == file["bytes"] <= preset.max_bytes
        assert "attachment" in download.headers["Content-Disposition"]
        with PILImage.open(io.BytesIO(download.data)) as image:
            assert image.size == (preset.width, preset.height)
            assert image.format.lower() == file["format"].lower().replace("jpg", "jpeg")
            assert image.format.lower() in {f.lower() for f in preset.formats}


def test_done_completes_the_task_and_then_the_release(client, auth, pat, run_jobs, fake_mastodon):
    avatar, banner = ready_images(pat, run_jobs)
    connect_mastodon(pat, fake_mastodon)
    instagram = add_manual(pat, "instagram")
    sync_id = client.post("/api/v1/sync", json={}, headers=auth).json["id"]
    settle(run_jobs, sync_id)
    status = client.get(f"/api/v1/sync/{sync_id}", headers=auth).json
    # The pushes finished; the release waits for the person's Instagram step.
    assert {t["platform"]: t["status"] for t in status["tasks"]} == {
        "mastodon": "succeeded",
        "instagram": "manual",
    }
    assert status["status"] == "waiting" and status["finished_at"] is None
    [task] = [t for t in status["tasks"] if t["platform"] == "instagram"]

    for _ in range(2):  # pressing Done twice is harmless
        done = client.post(f"/api/v1/sync/{sync_id}/tasks/{task['id']}/done", headers=auth)
        assert done.status_code == 200 and done.json["status"] == "done"
    status = client.get(f"/api/v1/sync/{sync_id}", headers=auth).json
    assert status["status"] == "succeeded" and status["finished_at"]
    # The account remembers what it received and when, like a push.
    slot = db.session.scalar(select(AccountSlot).filter_by(account_id=instagram.id))
    assert slot is not None and slot.pushed_at is not None

    # The same pictures again: Instagram already shows them, so nothing is asked of the person.
    again = client.post("/api/v1/sync", json={}, headers=auth).json["id"]
    settle(run_jobs, again)
    repeat = client.get(f"/api/v1/sync/{again}", headers=auth).json
    assert [t["status"] for t in repeat["tasks"] if t["platform"] == "instagram"] == ["skipped"]
    assert repeat["status"] == "succeeded" and repeat["finished_at"]

    # An automatic task cannot be "done" by hand; another release's task id is 404.
    pushed = next(t for t in status["tasks"] if t["platform"] == "mastodon")
    refused = client.post(f"/api/v1/sync/{sync_id}/tasks/{pushed['id']}/done", headers=auth)
    assert refused.status_code == 409 and "automatically" in refused.json["error"]
    assert (
        client.post(f"/api/v1/sync/{sync_id + 1}/tasks/{task['id']}/done", headers=auth).status_code
        == 404
    )


def test_dismissed_steps_complete_the_release_too(client, auth, pat, run_jobs):
    ready_images(pat, run_jobs)
    add_manual(pat, "discord")
    sync_id = client.post("/api/v1/sync", json={}, headers=auth).json["id"]
    tasks = client.get(f"/api/v1/sync/{sync_id}", headers=auth).json["tasks"]
    assert len(tasks) == 2  # avatar and banner
    client.post(f"/api/v1/sync/{sync_id}/tasks/{tasks[0]['id']}/done", headers=auth)
    assert client.get(f"/api/v1/sync/{sync_id}", headers=auth).json["status"] == "waiting"
    dismissed = client.post(f"/api/v1/sync/{sync_id}/tasks/{tasks[1]['id']}/dismiss", headers=auth)
    assert dismissed.json["status"] == "dismissed"
    assert client.get(f"/api/v1/sync/{sync_id}", headers=auth).json["status"] == "succeeded"
    # A step already done is not dismissed behind the person's back.
    again = client.post(f"/api/v1/sync/{sync_id}/tasks/{tasks[0]['id']}/dismiss", headers=auth)
    assert again.status_code == 409
    # One notice for the release, when its last step closed; the dismissed step is not counted.
    (notice,) = db.session.scalars(select(Event).where(Event.type.startswith("release."))).all()
    assert notice.type == "release.completed"
    assert notice.data == {"release_id": sync_id, "total": 1}


def test_a_release_already_up_to_date_when_it_starts_is_told_once(client, auth, pat, run_jobs):
    ready_images(pat, run_jobs)
    add_manual(pat, "discord")
    first = client.post("/api/v1/sync", json={}, headers=auth).json["id"]
    for task in client.get(f"/api/v1/sync/{first}", headers=auth).json["tasks"]:
        client.post(f"/api/v1/sync/{first}/tasks/{task['id']}/done", headers=auth)
    again = client.post("/api/v1/sync", json={}, headers=auth).json["id"]
    assert client.get(f"/api/v1/sync/{again}", headers=auth).json["status"] == "succeeded"
    notices = db.session.scalars(
        select(Event).where(Event.type.startswith("release.")).order_by(Event.id)
    ).all()
    assert [(n.type, n.data["release_id"]) for n in notices] == [
        ("release.completed", first),
        ("release.completed", again),
    ]


def test_the_zip_holds_every_manual_file_and_the_steps(client, auth, pat, run_jobs):
    ready_images(pat, run_jobs)
    add_manual(pat, "linkedin")
    add_manual(pat, "github")
    sync_id = client.post("/api/v1/sync", json={}, headers=auth).json["id"]
    answer = client.get(f"/api/v1/sync/{sync_id}/manual.zip", headers=auth)
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    tasks = client.get(f"/api/v1/sync/{sync_id}", headers=auth).json["tasks"]
    with zipfile.ZipFile(io.BytesIO(answer.data)) as archive:
        names = set(archive.namelist())
        for task in tasks:
            [file] = task["files"]
            [name] = [
                n
                for n in names
                if n.startswith(f"{task['platform']}/") and f"-{task['slot']}-" in n
            ]
            assert len(archive.read(name)) == file["bytes"]
        guide = archive.read("README.txt").decode()
    assert len(names) == 4  # LinkedIn photo and background, GitHub avatar, the guide
    assert (
        "https://www.linkedin.com/in/me/" in guide
        and "https://github.com/settings/profile" in guide
    )


def test_the_sync_page_shows_the_manual_step_and_done_finishes_it(client, login, pat, run_jobs):
    login(pat)
    ready_images(pat, run_jobs)
    add_manual(pat, "twitch")
    started = client.post("/sync", data={})
    release = db.session.scalar(select(SyncRequest))
    assert started.headers["Location"] == f"/sync/{release.id}"
    page = client.get(f"/sync/{release.id}").get_data(as_text=True)
    assert "Your turn" in page and "Waiting for your steps" in page
    assert 'href="https://www.twitch.tv/settings/profile"' in page
    assert "Download 256×256" in page and "Download 1200×480" in page
    assert "Download all files for manual steps (zip)" in page
    # Nothing automatic is left, so the status partial tells htmx to stop polling.
    assert client.get(f"/sync/{release.id}/status").status_code == 286

    avatar_task = next(t for t in release.tasks if t.slot == "avatar")
    download = client.get(
        f"/sync/{release.id}/tasks/{avatar_task.id}/files/{avatar_task.preset_key}"
    )
    assert download.status_code == 200
    assert 'filename="linkarooie-twitch-avatar-256x256.' in download.headers["Content-Disposition"]

    for task in release.tasks:
        answer = client.post(f"/sync/tasks/{task.id}/done", headers={"HX-Request": "true"})
        assert answer.status_code == 200
    assert 'data-status="succeeded"' in answer.get_data(as_text=True)
    undone = client.post(f"/sync/tasks/{avatar_task.id}/reopen", headers={"HX-Request": "true"})
    assert 'data-status="waiting"' in undone.get_data(as_text=True)


def test_someone_elses_manual_step_is_404(client, login, pat, make_user, run_jobs):
    ready_images(pat, run_jobs)
    add_manual(pat, "instagram")
    client_sync = client.post("/api/v1/sync", json={}, headers=bearer(pat)).json["id"]
    task_id = db.session.get(SyncRequest, client_sync).tasks[0].id
    other = make_user(email="other@example.com")
    login(other)
    assert client.post(f"/sync/tasks/{task_id}/done").status_code == 404
    assert client.get(f"/sync/{client_sync}/manual.zip").status_code == 404
    assert (
        client.post(
            f"/api/v1/sync/{client_sync}/tasks/{task_id}/done", headers=bearer(other)
        ).status_code
        == 404
    )
