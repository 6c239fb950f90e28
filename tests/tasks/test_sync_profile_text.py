"""Profile text as the sync engine's third slot: pushed to the loopback Mastodon (display name,
note, metadata fields) and to a real PDS (displayName and description in the profile record),
skipped when unchanged, and brought back by a restore."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import TaskStatus
from app.services import profiles
from app.services.platforms import connections, get
from app.services.sync import releases
from tests.images import add_user
from tests.services.test_x_adapter import connect_x, x_app  # noqa: F401 (a fixture)
from tests.sync_support import connect_mastodon, ready_images, settle

FIRST = {
    "display_name": "Pat Example",
    "bio": "Owl spotter & photographer.",
    "website": "https://pat.example",
}
SECOND = {"display_name": "Pat the Owl", "bio": "Now mostly moths."}


@pytest.fixture
def pat(app):
    return add_user("pat@example.com")


def write_profile(user, **changes) -> None:
    profiles.update(user, changes)
    db.session.commit()


def sync_text(user, run_jobs, **kwargs):
    release = releases.start(user, profile=True, use_current=False, **kwargs)
    db.session.commit()
    return settle(run_jobs, release.id)


def test_mastodon_gets_the_text_and_keeps_its_pictures(app, pat, fake_mastodon, run_jobs):
    connect_mastodon(pat, fake_mastodon)
    ready_images(pat, run_jobs)
    pictures = releases.start(pat)
    db.session.commit()
    pictures = settle(run_jobs, pictures.id)
    assert pictures.status == "succeeded"
    before = fake_mastodon.current("alice")
    write_profile(pat, **FIRST)
    profiles.add_link(pat, "Blog", "https://blog.pat.example")
    db.session.commit()

    release = sync_text(pat, run_jobs)

    assert [(t.slot, t.status) for t in release.tasks] == [("profile", TaskStatus.SUCCEEDED)]
    alice = fake_mastodon.accounts["alice"]
    assert alice.display_name == "Pat Example"
    assert alice.note == "Owl spotter & photographer."
    assert alice.fields == [
        ("Website", "https://pat.example"),
        ("Blog", "https://blog.pat.example"),
    ]
    assert fake_mastodon.current("alice") == before  # avatar and header untouched

    again = sync_text(pat, run_jobs)
    assert [t.status for t in again.tasks] == [TaskStatus.SKIPPED]


def test_a_restore_brings_the_earlier_text_back_on_mastodon(app, pat, fake_mastodon, run_jobs):
    connect_mastodon(pat, fake_mastodon)
    write_profile(pat, **FIRST)
    first = sync_text(pat, run_jobs)
    write_profile(pat, **SECOND, website="")
    second = sync_text(pat, run_jobs)
    assert second.status == "succeeded"
    assert fake_mastodon.accounts["alice"].note == "Now mostly moths."

    restored = releases.restore(pat, first)
    db.session.commit()
    restored = settle(run_jobs, restored.id)

    assert restored.status == "succeeded" and restored.profile_text == first.profile_text
    alice = fake_mastodon.accounts["alice"]
    assert (alice.display_name, alice.note) == ("Pat Example", "Owl spotter & photographer.")
    assert alice.fields == [("Website", "https://pat.example")]


def test_a_bio_too_long_for_mastodon_is_cut_as_the_preview_said(app, pat, fake_mastodon, run_jobs):
    connect_mastodon(pat, fake_mastodon)
    write_profile(pat, display_name="A name far longer than thirty characters")
    release = sync_text(pat, run_jobs)
    assert release.status == "succeeded", [t.error for t in release.tasks]
    name = fake_mastodon.accounts["alice"].display_name
    assert len(name) <= 30 and name.endswith("…") and name.startswith("A name far longer")


def test_a_text_push_the_instance_fails_is_retried_then_lands(app, pat, fake_mastodon, run_jobs):
    app.config.update(SYNC_RETRY_BASE=0.05, SYNC_RETRY_MAX=0.1)
    connect_mastodon(pat, fake_mastodon)
    write_profile(pat, **FIRST)
    fake_mastodon.fail_next(503, path="update_credentials")
    release = sync_text(pat, run_jobs)
    task = release.tasks[0]
    assert (task.status, task.attempts) == (TaskStatus.SUCCEEDED, 2)
    assert fake_mastodon.accounts["alice"].note == "Owl spotter & photographer."


def test_a_text_the_instance_refuses_fails_with_its_reason(app, pat, fake_mastodon, run_jobs):
    connect_mastodon(pat, fake_mastodon)
    write_profile(pat, **FIRST)
    fake_mastodon.fail_next(422, error="Validation failed: Note is spam", path="update_cred")
    release = sync_text(pat, run_jobs)
    task = release.tasks[0]
    assert task.status is TaskStatus.FAILED
    assert task.error == "Mastodon refused the text: Validation failed: Note is spam"


# Bluesky, against the real PDS


@pytest.fixture
def bob(pds):
    account = pds.create_account("bob")
    pds.set_profile(account, "Bob Example", "Bird watcher. Posts about owls.")
    return account


def connect_bluesky(pat, pds, bob):
    form = {"handle": bob.handle, "app_password": bob.app_password, "service_url": pds.url}
    account = connections.save(pat, "bluesky", get("bluesky").connect(form))
    db.session.commit()
    return account


def test_bluesky_gets_name_and_description_and_keeps_its_blobs(app, pat, pds, bob, run_jobs):
    connect_bluesky(pat, pds, bob)
    ready_images(pat, run_jobs)
    pictures = releases.start(pat)
    db.session.commit()
    pictures = settle(run_jobs, pictures.id)
    assert pictures.status == "succeeded", [t.error for t in pictures.tasks]
    before = pds.profile(bob)
    write_profile(pat, **FIRST)

    release = sync_text(pat, run_jobs)

    assert release.status == "succeeded", [t.error for t in release.tasks]
    record = pds.profile(bob)
    assert record["displayName"] == "Pat Example"
    assert record["description"] == "Owl spotter & photographer."
    assert record["avatar"] == before["avatar"] and record["banner"] == before["banner"]
    assert set(record) == set(before)  # no field the lexicon does not have

    again = sync_text(pat, run_jobs)
    assert [t.status for t in again.tasks] == [TaskStatus.SKIPPED]


def test_a_restore_brings_the_earlier_text_back_on_bluesky(app, pat, pds, bob, run_jobs):
    connect_bluesky(pat, pds, bob)
    write_profile(pat, **FIRST)
    first = sync_text(pat, run_jobs)
    write_profile(pat, **SECOND)
    assert sync_text(pat, run_jobs).status == "succeeded"
    assert pds.profile(bob)["description"] == "Now mostly moths."

    restored = releases.restore(pat, first)
    db.session.commit()
    restored = settle(run_jobs, restored.id)

    assert restored.status == "succeeded", [t.error for t in restored.tasks]
    record = pds.profile(bob)
    assert (record["displayName"], record["description"]) == (
        "Pat Example",
        "Owl spotter & photographer.",
    )


def test_a_long_bio_reaches_bluesky_cut_to_256_graphemes(app, pat, pds, bob, run_jobs):
    connect_bluesky(pat, pds, bob)
    write_profile(pat, bio="🦉 hoot " * 60)  # 420 graphemes, 480 characters
    release = sync_text(pat, run_jobs)
    assert release.status == "succeeded", [t.error for t in release.tasks]
    description = pds.profile(bob)["description"]
    assert description.endswith("…") and description.startswith("🦉 hoot 🦉")
    assert profiles.count(description, "graphemes") <= 256


# X, against the loopback X that checks every OAuth 1.0a signature


@pytest.mark.usefixtures("x_app")
def test_x_gets_name_description_url_and_location_signed(app, pat, fake_x, run_jobs):
    connect_x(pat, fake_x)
    write_profile(pat, **FIRST, location="Somewhere with many owls, far north")
    release = sync_text(pat, run_jobs)

    assert release.status == "succeeded", [t.error for t in release.tasks]
    alice = fake_x.users["alice"]
    assert (alice.name, alice.description) == ("Pat Example", "Owl spotter & photographer.")
    assert alice.url == "https://pat.example"
    assert len(alice.location) <= 30 and alice.location.endswith("…")
    assert fake_x.current("alice") == {"avatar": None, "banner": None}  # pictures untouched
    assert fake_x.refused == []

    again = sync_text(pat, run_jobs)
    assert [t.status for t in again.tasks] == [TaskStatus.SKIPPED]
