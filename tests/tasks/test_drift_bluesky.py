"""The drift watch against a real PDS: the person sets another avatar in their Bluesky client
(a new blob in their profile record), the periodic job reads the record and the blob back and
marks the account changed; putting ours back writes our blob again."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import PlatformAccount, SyncPreferences
from app.services.platforms import connections, get
from app.services.sync import drift, releases
from tests.drift_support import reencoded, slot_state, their_picture, watch_round
from tests.images import add_user
from tests.sync_support import ready_images, settle, variant_bytes


@pytest.fixture
def pat(app):
    user = add_user("pat@example.com")
    db.session.add(SyncPreferences(user_id=user.id, drift_watch="daily"))
    db.session.commit()
    return user


@pytest.fixture
def bob(pds):
    account = pds.create_account("bob")
    pds.set_profile(account, "Bob Example", "Bird watcher.")
    return account


@pytest.fixture
def synced(app, pat, pds, bob, run_jobs):
    form = {"handle": bob.handle, "app_password": bob.app_password, "service_url": pds.url}
    account = connections.save(pat, "bluesky", get("bluesky").connect(form))
    db.session.commit()
    avatar, _ = ready_images(pat, run_jobs)
    release = releases.start(pat)
    db.session.commit()
    assert settle(run_jobs, release.id).status == "succeeded"
    ours = variant_bytes(app, avatar, "bluesky_avatar")
    assert pds.blob(bob, pds.profile(bob)["avatar"]["ref"]["$link"]) == ours
    return account, ours


def person_sets_avatar(pds, bob, data: bytes) -> None:
    """What the person's Bluesky client does: upload a blob, point the profile record at it."""
    blob = pds.upload_blob(bob, data, "image/jpeg")
    pds.put_profile(bob, {**pds.profile(bob), "avatar": blob})


def shown_avatar(pds, bob) -> bytes:
    return pds.blob(bob, pds.profile(bob)["avatar"]["ref"]["$link"])


def test_a_changed_avatar_is_noticed_and_ours_put_back(pat, pds, bob, run_jobs, synced):
    account, ours = synced
    person_sets_avatar(pds, bob, their_picture(seed=50))

    watch_round(run_jobs)

    assert slot_state(account.id, "avatar") == "changed"
    assert slot_state(account.id, "banner") == "unchanged"
    account = db.session.get(PlatformAccount, account.id)
    assert account.slot("avatar").live_key  # their picture, kept to show beside ours

    release = drift.repush(pat, account, "avatar")
    db.session.commit()
    assert settle(run_jobs, release.id).status == "succeeded"
    assert shown_avatar(pds, bob) == ours
    assert slot_state(account.id, "avatar") is None  # cleared until the next look
    assert pds.profile(bob)["displayName"] == "Bob Example"  # the rest of the profile stays

    account = db.session.get(PlatformAccount, account.id)
    found = {d.slot: d.status for d in drift.check(account)}
    db.session.commit()
    assert found == {"avatar": "unchanged", "banner": "unchanged"}


def test_ours_re_encoded_by_the_person_is_not_drift(pds, bob, run_jobs, synced):
    account, ours = synced
    person_sets_avatar(pds, bob, reencoded(ours, (500, 500), quality=60))
    watch_round(run_jobs)
    assert slot_state(account.id, "avatar") == "unchanged"


def test_a_removed_avatar_counts_as_changed(pds, bob, run_jobs, synced):
    account, _ = synced
    record = pds.profile(bob)
    record.pop("avatar")
    pds.put_profile(bob, record)
    watch_round(run_jobs)
    assert slot_state(account.id, "avatar") == "changed"
    assert db.session.get(PlatformAccount, account.id).slot("avatar").live_key is None
