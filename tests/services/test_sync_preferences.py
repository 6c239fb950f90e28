"""Sync preferences in the services: where a sync without chosen accounts goes, slots an account
does not take, validation, and auto-sync after an explicit "make current"."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import AccountStatus, Image, SyncPreferences, SyncRequest
from app.services.images import library
from app.services.sync import auto, preferences, releases
from app.services.sync.preferences import Choices, InvalidPreferences
from tests.sync_rows import make_account, make_images


@pytest.fixture
def pat(make_user):
    return make_user(email="pat@example.com")


def choose(user, defaults, slots_on=None, auto_sync=False):
    saved = preferences.update(user, Choices(defaults, slots_on or {}, auto_sync))
    db.session.commit()
    return saved


def ids(accounts) -> list[int]:
    return [a.id for a in accounts]


def test_without_preferences_every_usable_account_is_a_target(pat):
    alice = make_account(pat, handle="@alice@masto.example")
    insta = make_account(pat, platform="instagram", handle="pat", status=AccountStatus.MANUAL)
    make_account(pat, handle="@old@masto.example", status=AccountStatus.EXPIRED)
    assert sorted(ids(preferences.targets(pat))) == sorted([alice.id, insta.id])


def test_chosen_defaults_decide_and_fall_back_when_none_is_usable(pat):
    alice = make_account(pat, handle="@alice@masto.example")
    bob = make_account(pat, handle="@bob@masto.example")
    choose(pat, [bob.id])
    assert ids(preferences.targets(pat)) == [bob.id]
    bob.status = AccountStatus.EXPIRED  # the only default needs reconnecting
    db.session.commit()
    assert ids(preferences.targets(pat)) == [alice.id]


def test_ticking_every_account_means_everywhere_including_later_ones(pat):
    alice = make_account(pat, handle="@alice@masto.example")
    assert choose(pat, [alice.id]).default_account_ids is None
    later = make_account(pat, handle="@later@masto.example")
    assert sorted(ids(preferences.targets(pat))) == sorted([alice.id, later.id])


def test_a_slot_turned_off_gets_no_task_even_for_chosen_accounts(pat, run_jobs):
    avatar, banner = make_images(pat, run_jobs)
    alice = make_account(pat)
    choose(pat, [alice.id], {alice.id: ["avatar"]})
    assert alice.slots_off == ["banner", "profile"]
    release = releases.start(pat, account_ids=[alice.id])
    assert [(t.account_id, t.slot) for t in release.tasks] == [(alice.id, "avatar")]
    db.session.rollback()
    choose(pat, [alice.id], {alice.id: []})
    with pytest.raises(releases.NothingToSync, match="Sync settings"):
        releases.start(pat, banner_id=banner.id, use_current=False)


def test_someone_elses_account_or_a_foreign_slot_changes_nothing(pat, make_user):
    alice = make_account(pat)
    insta = make_account(pat, platform="instagram", handle="pat", status=AccountStatus.MANUAL)
    other = make_account(make_user(email="sam@example.com"), handle="@sam@masto.example")
    bad = [
        Choices([other.id], {}, True),
        Choices([alice.id], {other.id: ["avatar"]}, True),
        Choices([alice.id], {insta.id: ["avatar", "banner"]}, True),  # Instagram has no banner
        Choices([], {}, True),
    ]
    for choices in bad:
        with pytest.raises(InvalidPreferences):
            preferences.update(pat, choices)
        db.session.rollback()
    assert db.session.get(SyncPreferences, pat.id) is None
    assert db.session.get(type(insta), insta.id).slots_off == []
    assert db.session.get(type(other), other.id).slots_off == []


def test_auto_sync_pushes_only_the_new_current_slot_to_the_defaults(pat, run_jobs):
    make_images(pat, run_jobs)
    newer, _ = make_images(pat, run_jobs, seed=5)
    alice = make_account(pat)
    bob = make_account(pat, handle="@bob@masto.example")
    choose(pat, [bob.id], auto_sync=True)
    synced = auto.after_made_current(pat, library.set_current(newer))
    db.session.commit()
    release = synced.release
    assert release.avatar_image_id == newer.id and release.banner_image_id is None
    assert [(t.account_id, t.slot) for t in release.tasks] == [(bob.id, "avatar")]
    assert alice.id not in {t.account_id for t in release.tasks}


def test_auto_sync_that_cannot_start_keeps_the_image_current(pat, run_jobs):
    avatar, _ = make_images(pat, run_jobs)
    newer, _ = make_images(pat, run_jobs, seed=5)
    choose(pat, [], auto_sync=True)  # no account at all: the empty choice is "everywhere"
    synced = auto.after_made_current(pat, library.set_current(newer))
    db.session.commit()
    assert synced.release is None and "Connect an account" in synced.skipped
    db.session.expire_all()
    assert db.session.get(Image, newer.id).is_current
    assert not db.session.get(Image, avatar.id).is_current
    assert db.session.query(SyncRequest).count() == 0


def test_auto_sync_off_starts_nothing(pat, run_jobs):
    make_images(pat, run_jobs)
    newer, _ = make_images(pat, run_jobs, seed=5)
    make_account(pat)
    assert auto.after_made_current(pat, library.set_current(newer)).release is None
    db.session.commit()
    assert db.session.query(SyncRequest).count() == 0
