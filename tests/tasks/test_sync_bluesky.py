"""Bluesky against a real PDS (npm @atproto/pds with an in-memory PLC): connect with an app
password, push both images, and read the profile record back from the PDS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from app.extensions import db
from app.models import AccountStatus, PlatformAccount, TaskStatus
from app.services.platforms import connections, get
from app.services.platforms.base import ConnectFailed
from app.services.sync import releases
from tests.images import add_user
from tests.sync_support import ready_images, settle, variant_bytes


@pytest.fixture
def pat(app):
    return add_user("pat@example.com")


@pytest.fixture
def bob(pds):
    account = pds.create_account("bob")
    pds.set_profile(account, "Bob Example", "Bird watcher. Posts about owls.")
    return account


def connect(pat, pds, bob, **form) -> PlatformAccount:
    form = {"handle": bob.handle, "app_password": bob.app_password, "service_url": pds.url, **form}
    account = connections.save(pat, "bluesky", get("bluesky").connect(form))
    db.session.commit()
    return account


def test_a_sync_writes_both_blobs_and_keeps_the_rest_of_the_profile(app, pat, pds, bob, run_jobs):
    account = connect(pat, pds, bob)
    assert (account.handle, account.remote_id) == (f"@{bob.handle}", bob.did)
    avatar, banner = ready_images(pat, run_jobs)

    release = releases.start(pat)
    db.session.commit()
    release = settle(run_jobs, release.id)

    assert release.status == "succeeded", [t.error for t in release.tasks]
    profile = pds.profile(bob)
    assert profile["displayName"] == "Bob Example"
    assert profile["description"] == "Bird watcher. Posts about owls."
    for field, image, preset in (
        ("avatar", avatar, "bluesky_avatar"),
        ("banner", banner, "bluesky_banner"),
    ):
        blob = profile[field]
        assert blob["mimeType"] == "image/jpeg" and blob["size"] <= 1_000_000
        assert pds.blob(bob, blob["ref"]["$link"]) == variant_bytes(app, image, preset)

    again = releases.start(pat)
    db.session.commit()
    again = settle(run_jobs, again.id)
    assert {t.status for t in again.tasks} == {TaskStatus.SKIPPED}


def test_the_pds_is_found_from_the_did_document_when_no_address_is_given(app, pat, pds, bob):
    app.config["BLUESKY_PLC_URL"] = pds.plc_url
    try:
        account = connect(pat, pds, bob, handle=bob.did, service_url="")
    finally:
        app.config["BLUESKY_PLC_URL"] = "https://plc.directory"
    assert account.instance_url == pds.url


def test_a_wrong_app_password_is_refused_with_the_reason(app, pat, pds, bob):
    with pytest.raises(ConnectFailed, match="refused that handle and app password"):
        connect(pat, pds, bob, app_password="wron-gpas-swor-dxxx")


def test_an_expired_session_is_refreshed_and_the_new_tokens_kept(app, pat, pds, bob, run_jobs):
    account = connect(pat, pds, bob)
    first_refresh = account.refresh_token
    account.expires_at = datetime.now(UTC) - timedelta(minutes=5)
    db.session.commit()
    ready_images(pat, run_jobs)

    release = releases.start(pat)
    db.session.commit()
    release = settle(run_jobs, release.id)

    assert release.status == "succeeded"
    account = db.session.get(PlatformAccount, account.id)
    assert account.refresh_token != first_refresh
    assert account.expires_at > datetime.now(UTC)


def test_a_revoked_app_password_asks_the_person_to_reconnect(app, pat, pds, bob, run_jobs):
    account = connect(pat, pds, bob)
    session = requests.post(
        pds.xrpc("com.atproto.server.createSession"),
        json={"identifier": bob.handle, "password": bob.password},
        timeout=10,
    ).json()
    revoked = requests.post(
        pds.xrpc("com.atproto.server.revokeAppPassword"),
        json={"name": next(iter(_app_password_names(pds, session)))},
        headers={"Authorization": f"Bearer {session['accessJwt']}"},
        timeout=10,
    )
    assert revoked.status_code == 200, revoked.text
    # An access JWT stays valid until it expires (up to two hours); what must fail is getting
    # the next one, from the refresh token and from the app password.
    account.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db.session.commit()
    ready_images(pat, run_jobs)

    release = releases.start(pat)
    db.session.commit()
    release = settle(run_jobs, release.id)

    assert {t.status for t in release.tasks} == {TaskStatus.NEEDS_RECONNECT}
    account = db.session.get(PlatformAccount, account.id)
    assert account.status is AccountStatus.EXPIRED


def _app_password_names(pds, session) -> list[str]:
    answer = requests.get(
        pds.xrpc("com.atproto.server.listAppPasswords"),
        headers={"Authorization": f"Bearer {session['accessJwt']}"},
        timeout=10,
    )
    return [entry["name"] for entry in answer.json()["passwords"]]


def test_our_cid_for_a_blob_is_the_one_the_pds_gives_it(pds, bob):
    from app.services.platforms.bluesky import blob_cid
    from tests.images import avatar_jpeg

    data = avatar_jpeg(size=300)
    assert pds.upload_blob(bob, data, "image/jpeg")["ref"]["$link"] == blob_cid(data)


def test_a_push_that_landed_before_its_worker_died_is_not_repeated(app, pat, pds, bob, run_jobs):
    from app.models import SyncTask
    from app.services.sync import engine
    from tests.conftest import empty_queues
    from tests.sync_support import task_of

    account = connect(pat, pds, bob)
    ready_images(pat, run_jobs)
    release = releases.start(pat)
    db.session.commit()
    empty_queues(app)
    task = task_of(release, "avatar")
    data = variant_bytes(app, task.request.avatar_image, "bluesky_avatar")
    get("bluesky").push(account, "avatar", data, "image/jpeg")  # what the dead worker did
    task.status = TaskStatus.RUNNING
    task.attempts = 1
    task.content_sha256 = __import__("hashlib").sha256(data).hexdigest()
    task.lease_until = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    record_before = pds.profile(bob)

    engine.run(task.id)
    db.session.expire_all()
    task = db.session.get(SyncTask, task.id)
    assert task.status is TaskStatus.SUCCEEDED and task.attempts == 2
    assert pds.profile(bob) == record_before  # no second write
