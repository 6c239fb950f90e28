"""The drift watch against the loopback Mastodon: the person changes their avatar on Mastodon
itself, the periodic job notices, Connections shows both pictures, and "Put ours back" or "Keep
theirs" settles it. Also the frequency setting, the API's view and the platforms we cannot read."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import update

from app.extensions import db
from app.models import AccountStatus, Event, PlatformAccount, SyncRequest
from app.services.images.cleanup import sweep_orphans
from app.services.sync import drift, releases
from tests.drift_support import reencoded, slot_state, their_picture, watch_round
from tests.sync_rows import make_account
from tests.sync_support import connect_mastodon, ready_images, settle, variant_bytes
from tests.web.test_api_images import bearer

HX = {"HX-Request": "true"}


def text_of(response) -> str:
    return response.get_data(as_text=True)


def set_frequency(client, account: PlatformAccount, frequency: str):
    form = {
        "default_account_ids": [str(account.id)],
        "accounts": [str(account.id)],
        f"slots-{account.id}": ["avatar", "banner"],
        "drift_watch": frequency,
    }
    return client.post("/settings/sync", data=form)


def person_sets(fake, username: str, slot: str, data: bytes) -> None:
    """What the person's Mastodon client does: update_credentials with their own token."""
    field = "header" if slot == "banner" else slot
    response = requests.patch(
        f"{fake.url}/api/v1/accounts/update_credentials",
        headers={"Authorization": f"Bearer {fake.token_for(username)}"},
        files={field: ("picture.jpg", data, "image/jpeg")},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def reads(fake) -> int:
    return sum(1 for _, path, _ in fake.requests if path.endswith("verify_credentials"))


def due_again(account: PlatformAccount) -> None:
    """As if the last check was long ago (the next round then reads the account again)."""
    db.session.execute(
        update(PlatformAccount)
        .where(PlatformAccount.id == account.id)
        .values(drift_checked_at=datetime.now(UTC) - timedelta(days=2))
    )
    db.session.commit()


@pytest.fixture
def synced(app, client, pat, fake_mastodon, run_jobs):
    """Pat's avatar and banner pushed to alice on the loopback Mastodon, watch hourly."""
    account = connect_mastodon(pat, fake_mastodon, "alice")
    avatar, banner = ready_images(pat, run_jobs)
    release = releases.start(pat)
    db.session.commit()
    assert settle(run_jobs, release.id).status == "succeeded"
    assert set_frequency(client, account, "hourly").status_code == 303
    ours = variant_bytes(app, avatar, "mastodon_avatar")
    assert fake_mastodon.current("alice")["avatar"] == ours
    return account, ours


def test_a_changed_avatar_is_shown_beside_ours_and_put_back(
    app, client, fake_mastodon, run_jobs, synced
):
    account, ours = synced
    theirs = their_picture()
    person_sets(fake_mastodon, "alice", "avatar", theirs)

    watch_round(run_jobs)

    assert slot_state(account.id, "avatar") == "changed"
    assert slot_state(account.id, "banner") == "unchanged"
    page = text_of(client.get("/connections"))
    assert "Changed on Mastodon" in page
    live_key = db.session.get(PlatformAccount, account.id).slot("avatar").live_key
    live = app.extensions["storage"].get(live_key)  # their picture, served from our storage
    assert live[:2] == b"\xff\xd8" and len(live) < len(theirs)
    img = re.search(r'<img src="([^"]*)"[^>]*alt="The avatar Mastodon shows now"', page)
    assert img and live_key in img.group(1)
    assert 'alt="Your avatar from Linkarooie"' in page
    assert "Put ours back" in page and "Keep theirs" in page

    answer = client.post(f"/connections/{account.id}/drift/avatar/repush", headers=HX)
    assert answer.status_code == 200
    assert f'id="account-{account.id}"' in text_of(answer)
    assert "Putting your avatar back" in text_of(answer)
    release = db.session.query(SyncRequest).order_by(SyncRequest.id.desc()).first()
    assert [(t.account_id, t.slot) for t in release.tasks] == [(account.id, "avatar")]
    assert settle(run_jobs, release.id).status == "succeeded"

    assert fake_mastodon.current("alice")["avatar"] == ours
    assert "Changed on Mastodon" not in text_of(client.get("/connections"))
    # their thumbnail is no longer shown, so the orphan sweep takes it
    storage = app.extensions["storage"]
    assert storage.exists(live_key)
    assert live_key in sweep_orphans(datetime.now(UTC) + timedelta(minutes=1))
    assert not storage.exists(live_key)
    due_again(account)
    watch_round(run_jobs)
    assert slot_state(account.id, "avatar") == "unchanged"


def test_keep_theirs_stays_quiet_until_the_picture_changes_again(
    client, fake_mastodon, run_jobs, synced
):
    account, _ = synced
    person_sets(fake_mastodon, "alice", "avatar", their_picture(seed=41))
    watch_round(run_jobs)
    assert slot_state(account.id, "avatar") == "changed"

    answer = client.post(f"/connections/{account.id}/drift/avatar/keep")
    assert answer.status_code == 303
    page = text_of(client.get("/connections"))
    assert "Changed on Mastodon" not in page and "you kept the one on Mastodon" in page

    pushes = len(fake_mastodon.log.pushes)
    due_again(account)
    watch_round(run_jobs)
    assert slot_state(account.id, "avatar") == "kept"
    assert len(fake_mastodon.log.pushes) == pushes  # nothing pushed behind their back

    person_sets(fake_mastodon, "alice", "avatar", their_picture(seed=42))
    due_again(account)
    watch_round(run_jobs)
    assert slot_state(account.id, "avatar") == "changed"


def test_each_change_is_told_once_however_many_rounds_see_it(fake_mastodon, run_jobs, synced):
    account, _ = synced

    def told() -> list[dict]:
        rows = db.session.scalars(db.select(Event).where(Event.type == "drift.detected"))
        return [e.data for e in rows]

    person_sets(fake_mastodon, "alice", "avatar", their_picture(seed=43))
    watch_round(run_jobs)
    due_again(account)
    watch_round(run_jobs)  # the same change, seen again
    assert [(d["account_id"], d["slot"]) for d in told()] == [(account.id, "avatar")]

    person_sets(fake_mastodon, "alice", "avatar", their_picture(seed=44))
    due_again(account)
    watch_round(run_jobs)
    assert len(told()) == 2


def test_the_platforms_re_encoded_copy_of_ours_is_not_drift(fake_mastodon, run_jobs, synced):
    account, ours = synced
    person_sets(fake_mastodon, "alice", "avatar", reencoded(ours, (360, 360), quality=60))
    watch_round(run_jobs)
    assert slot_state(account.id, "avatar") == "unchanged"


def test_with_the_watch_off_the_job_reads_nothing(client, fake_mastodon, run_jobs, synced):
    account, _ = synced
    assert set_frequency(client, account, "off").status_code == 303
    before = reads(fake_mastodon)
    watch_round(run_jobs)
    assert reads(fake_mastodon) == before
    assert slot_state(account.id, "avatar") is None


def test_hourly_reads_once_an_hour(fake_mastodon, run_jobs, synced):
    account, _ = synced
    before = reads(fake_mastodon)
    watch_round(run_jobs)
    after_first = reads(fake_mastodon)
    assert after_first > before
    watch_round(run_jobs)
    assert reads(fake_mastodon) == after_first  # checked minutes ago: not due yet
    due_again(account)
    watch_round(run_jobs)
    assert reads(fake_mastodon) > after_first


def test_check_now_reads_at_once_and_says_what_it_found(client, fake_mastodon, synced):
    account, _ = synced
    person_sets(fake_mastodon, "alice", "banner", their_picture(seed=43, size=900))
    answer = client.post(f"/connections/{account.id}/drift/check", headers=HX)
    assert answer.status_code == 200
    body = text_of(answer)
    assert (
        "Changed on Mastodon: the banner." in body and 'alt="The banner Mastodon shows now"' in body
    )
    assert slot_state(account.id, "avatar") == "unchanged"


def test_the_api_lists_each_slots_drift(client, fake_mastodon, run_jobs, synced, pat):
    account, _ = synced
    person_sets(fake_mastodon, "alice", "avatar", their_picture(seed=44))
    watch_round(run_jobs)
    listed = client.get("/api/v1/accounts", headers=bearer(pat)).get_json()
    found = next(a for a in listed if a["id"] == account.id)
    assert found["handle"] == account.handle and "last_pushed_at" in found  # kept as they were
    assert found["drift"]["readable"] is True and found["drift"]["checked_at"]
    assert found["drift"]["slots"]["avatar"]["status"] == "changed"
    assert found["drift"]["slots"]["banner"]["status"] == "unchanged"


def test_acting_on_a_slot_that_did_not_change_is_refused(client, synced):
    account, _ = synced
    for action in ("repush", "keep"):
        answer = client.post(f"/connections/{account.id}/drift/avatar/{action}")
        assert answer.status_code == 409
        assert "not marked as changed" in text_of(answer)
    assert client.post(f"/connections/{account.id}/drift/header/keep").status_code == 404


def test_the_frequency_is_saved_and_a_bad_one_refused(client, pat, fake_mastodon):
    account = connect_mastodon(pat, fake_mastodon, "alice")
    page = text_of(client.get("/settings/sync"))
    assert re.search(r'<option value="off" selected>', page)
    assert set_frequency(client, account, "daily").status_code == 303
    assert re.search(r'<option value="daily" selected>', text_of(client.get("/settings/sync")))
    refused = set_frequency(client, account, "weekly")
    assert refused.status_code == 422 and "off, daily or hourly" in text_of(refused)


def test_platforms_we_cannot_read_say_so(client, pat):
    make_account(pat, platform="instagram", handle="pat.pics", status=AccountStatus.MANUAL)
    page = text_of(client.get("/connections"))
    assert "Linkarooie can't read Instagram, so it can't watch it" in page


def test_a_round_reads_the_longest_unchecked_accounts_first(client, pat, fake_mastodon):
    alice = connect_mastodon(pat, fake_mastodon, "alice")
    bob = connect_mastodon(pat, fake_mastodon, "bob")
    assert set_frequency(client, alice, "daily").status_code == 303
    due_again(alice)  # checked two days ago; bob never

    assert drift.watch_due(limit=1) == {"checked": 1, "changed": 0, "busy": 0}
    db.session.expire_all()
    assert db.session.get(PlatformAccount, bob.id).drift_checked_at is not None
    assert db.session.get(PlatformAccount, alice.id).drift_checked_at < datetime.now(
        UTC
    ) - timedelta(days=1)
    assert drift.watch_due(limit=1)["checked"] == 1  # alice's turn in the next round
    assert drift.watch_due(limit=1)["checked"] == 0  # nobody is due any more


def test_a_failed_read_keeps_what_was_known_and_says_why(client, fake_mastodon, run_jobs, synced):
    account, _ = synced
    person_sets(fake_mastodon, "alice", "avatar", their_picture(seed=45))
    watch_round(run_jobs)
    assert slot_state(account.id, "avatar") == "changed"

    fake_mastodon.fail_next(503, times=4, path="verify_credentials")
    due_again(account)
    watch_round(run_jobs)

    assert slot_state(account.id, "avatar") == "changed"  # not forgotten, not guessed
    page = text_of(client.get("/connections"))
    assert "Changed on Mastodon" in page and "Last check failed: Mastodon answered 503" in page
