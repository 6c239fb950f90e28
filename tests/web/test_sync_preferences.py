"""The sync preferences page and what it changes: where "Sync everywhere" and a null-accounts
API sync go, slots an account does not take, and auto-sync when an image is made current (the
library's button and the API). Pushes go to the loopback Mastodon."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AccountStatus, Image, PlatformAccount, SyncPreferences, SyncRequest
from tests.sync_rows import make_account
from tests.sync_support import connect_mastodon, ready_images, settle
from tests.web.test_api_images import bearer


def text_of(response) -> str:
    return response.get_data(as_text=True)


def ticked(page: str, name: str, value) -> bool:
    """Whether the page's checkbox `name`=`value` is ticked (it must be there)."""
    tag = re.search(rf'<input[^>]*name="{name}" value="{value}"[^>]*>', page)
    assert tag, f"no {name}={value} checkbox"
    return re.search(r"\schecked\b", tag.group(0)) is not None


def releases_of(user) -> list[SyncRequest]:
    db.session.expire_all()
    query = select(SyncRequest).where(SyncRequest.user_id == user.id).order_by(SyncRequest.id)
    return list(db.session.scalars(query))


def tasks_of(release: SyncRequest) -> list[tuple[int, str]]:
    return sorted((t.account_id, t.slot) for t in release.tasks)


@pytest.fixture
def alice(pat, fake_mastodon):
    return connect_mastodon(pat, fake_mastodon, "alice")


@pytest.fixture
def bob(pat, fake_mastodon):
    return connect_mastodon(pat, fake_mastodon, "bob")


def save(client, defaults, slots: dict[int, list[str]], auto_sync=False, shown=None):
    form = {
        "default_account_ids": [str(i) for i in defaults],
        "accounts": [str(i) for i in (shown if shown is not None else slots)],
        **{f"slots-{account_id}": on for account_id, on in slots.items()},
    }
    if auto_sync:
        form["auto_sync"] = "on"
    return client.post("/settings/sync", data=form)


# The page


def test_the_page_lists_every_account_with_its_platform_and_slots(client, pat, alice):
    insta = make_account(pat, platform="instagram", handle="pat.pics", status=AccountStatus.MANUAL)
    page = text_of(client.get("/settings/sync"))
    assert "pat.pics" in page and "Instagram" in page and alice.handle in page
    for account in (alice, insta):  # everyone is a default until the person chooses
        assert ticked(page, "default_account_ids", account.id)
    assert ticked(page, f"slots-{alice.id}", "banner")
    assert f'name="slots-{insta.id}" value="avatar"' in page
    assert f'name="slots-{insta.id}" value="banner"' not in page  # Instagram has no banner
    assert not re.search(r'<input[^>]*name="auto_sync"[^>]*checked', page)
    assert "even when you choose" in page  # slots apply to chosen accounts too
    assert 'name="csrf_token"' in page


def test_settings_and_sync_link_to_the_page(client, pat):
    for url in ("/settings", "/sync"):
        assert 'href="/settings/sync"' in text_of(client.get(url))


def test_saving_keeps_the_choices(client, pat, alice, bob):
    answer = save(client, [bob.id], {alice.id: ["avatar"], bob.id: ["avatar", "banner"]}, True)
    assert answer.status_code == 303
    page = text_of(client.get(answer.headers["Location"]))
    assert "Sync preferences saved." in page
    assert ticked(page, "default_account_ids", bob.id)
    assert not ticked(page, "default_account_ids", alice.id)
    assert not ticked(page, f"slots-{alice.id}", "banner")
    assert re.search(r'<input[^>]*name="auto_sync"[^>]*checked', page)


def test_the_page_needs_a_sign_in(client):
    assert client.get("/settings/sync").status_code in (302, 303)


# Bad input: 422 with a message, and nothing changed


def test_bad_input_is_refused_and_changes_nothing(client, pat, alice, make_user):
    insta = make_account(pat, platform="instagram", handle="pat.pics", status=AccountStatus.MANUAL)
    other = make_account(make_user(email="sam@example.com"), handle="@sam@masto.example")
    cases = [
        (
            save(client, [other.id], {alice.id: ["avatar"]}, True),
            f"no connected account {other.id}",
        ),
        (save(client, [alice.id], {other.id: []}, True), f"no connected account {other.id}"),
        (
            save(client, [alice.id], {insta.id: ["banner"]}, True),
            "pat.pics has no banner to set; it takes avatar.",
        ),
        (save(client, [], {alice.id: ["avatar"]}, True), "Choose at least one account"),
        (save(client, ["x1"], {}, True), "Choose the accounts from the list"),
    ]
    for answer, message in cases:
        assert answer.status_code == 422
        assert "Nothing was saved." in text_of(answer) and message in text_of(answer)
    db.session.expire_all()
    assert db.session.get(SyncPreferences, pat.id) is None
    assert db.session.get(PlatformAccount, other.id).slots_off == []
    assert db.session.get(PlatformAccount, alice.id).slots_off == []


# Default targets


def test_api_sync_with_null_accounts_goes_to_the_defaults(
    client, pat, alice, bob, fake_mastodon, run_jobs
):
    ready_images(pat, run_jobs)
    assert save(client, [bob.id], {}).status_code == 303
    answer = client.post(
        "/api/v1/sync",
        json={"avatar_id": None, "banner_id": None, "accounts": None},
        headers=bearer(pat),
    )
    assert answer.status_code == 202
    release = settle(run_jobs, answer.json["id"])
    assert tasks_of(release) == [(bob.id, "avatar"), (bob.id, "banner")]
    assert fake_mastodon.current("alice") == {"avatar": None, "header": None}
    assert fake_mastodon.current("bob")["avatar"] is not None


def test_sync_everywhere_goes_to_the_defaults(client, pat, alice, bob, run_jobs):
    ready_images(pat, run_jobs)
    save(client, [alice.id], {})
    answer = client.post("/sync")
    assert answer.status_code == 303
    [release] = releases_of(pat)
    assert tasks_of(release) == [(alice.id, "avatar"), (alice.id, "banner")]
    page = text_of(client.get("/sync"))  # the choose page starts from the defaults too
    assert re.search(rf'name="account_ids" value="{alice.id}"\s+checked', page)
    assert not ticked(page, "account_ids", bob.id)


def test_a_slot_turned_off_is_never_pushed(client, pat, alice, fake_mastodon, run_jobs):
    ready_images(pat, run_jobs)
    save(client, [alice.id], {alice.id: ["avatar"]})
    answer = client.post(
        "/api/v1/sync",
        json={"avatar_id": None, "banner_id": None, "accounts": [alice.id]},
        headers=bearer(pat),
    )
    release = settle(run_jobs, answer.json["id"])
    assert tasks_of(release) == [(alice.id, "avatar")] and release.status == "succeeded"
    assert fake_mastodon.current("alice")["header"] is None
    # Nothing left to send: the usual "nothing to sync" answer, not an empty release.
    save(client, [alice.id], {alice.id: []})
    answer = client.post(
        "/api/v1/sync",
        json={"avatar_id": None, "banner_id": None, "accounts": None},
        headers=bearer(pat),
    )
    assert answer.status_code == 422 and "Sync settings" in answer.json["error"]
    assert len(releases_of(pat)) == 1


# Auto-sync on "make current"


def test_the_library_button_auto_syncs_only_that_slot(
    app, client, pat, alice, fake_mastodon, run_jobs
):
    avatar, banner = ready_images(pat, run_jobs)
    newer, _ = ready_images(pat, run_jobs, seed=7)
    save(client, [alice.id], {alice.id: ["avatar", "banner"]}, auto_sync=True)
    answer = client.post(f"/images/{newer.id}/current")
    assert answer.status_code == 303
    [release] = releases_of(pat)
    assert release.avatar_image_id == newer.id and release.banner_image_id is None
    assert tasks_of(release) == [(alice.id, "avatar")]
    page = text_of(client.get(answer.headers["Location"]))
    assert "on its way to your default accounts" in page
    assert f'href="/sync/{release.id}"' in page
    settle(run_jobs, release.id)
    current = fake_mastodon.current("alice")
    assert current["avatar"] is not None and current["header"] is None
    assert db.session.get(Image, newer.id).is_current


def test_the_library_button_over_htmx_reloads_to_show_the_sync(client, pat, alice, run_jobs):
    ready_images(pat, run_jobs)
    _, newer_banner = ready_images(pat, run_jobs, seed=7)
    save(client, [alice.id], {alice.id: ["avatar", "banner"]}, auto_sync=True)
    answer = client.post(f"/images/{newer_banner.id}/current", headers={"HX-Request": "true"})
    assert answer.headers["HX-Redirect"] == "/images?kind=banner"
    [release] = releases_of(pat)
    assert tasks_of(release) == [(alice.id, "banner")] and release.avatar_image_id is None


def test_the_api_make_current_auto_syncs_and_returns_the_sync_id(client, pat, alice, run_jobs):
    ready_images(pat, run_jobs)
    newer, _ = ready_images(pat, run_jobs, seed=7)
    save(client, [alice.id], {alice.id: ["avatar", "banner"]}, auto_sync=True)
    answer = client.post(f"/api/v1/images/{newer.id}/current", headers=bearer(pat))
    assert answer.status_code == 200
    [release] = releases_of(pat)
    assert answer.json["sync_id"] == release.id
    assert answer.json["id"] == newer.id and answer.json["current"] is True
    assert tasks_of(release) == [(alice.id, "avatar")]


def test_with_auto_sync_off_making_current_syncs_nothing(client, pat, alice, run_jobs):
    ready_images(pat, run_jobs)
    newer, newer_banner = ready_images(pat, run_jobs, seed=7)
    answer = client.post(f"/api/v1/images/{newer.id}/current", headers=bearer(pat))
    assert answer.status_code == 200 and "sync_id" not in answer.json
    answer = client.post(f"/images/{newer_banner.id}/current")
    assert "on its way" not in text_of(client.get(answer.headers["Location"]))
    assert releases_of(pat) == []


def test_auto_sync_with_the_slot_off_everywhere_says_why(client, pat, alice, run_jobs):
    ready_images(pat, run_jobs)
    newer, _ = ready_images(pat, run_jobs, seed=7)
    save(client, [alice.id], {alice.id: ["banner"]}, auto_sync=True)
    answer = client.post(f"/images/{newer.id}/current")
    page = text_of(client.get(answer.headers["Location"]))
    assert "That is now your avatar. It was not synced" in page
    assert db.session.get(Image, newer.id).is_current and releases_of(pat) == []


def test_someone_elses_image_is_not_made_current_or_synced(client, pat, alice, make_user, run_jobs):
    save(client, [alice.id], {alice.id: ["avatar", "banner"]}, auto_sync=True)
    sam = make_user(email="sam@example.com")
    theirs, _ = ready_images(sam, run_jobs)
    assert (
        client.post(f"/api/v1/images/{theirs.id}/current", headers=bearer(pat)).status_code == 404
    )
    assert client.post(f"/images/{theirs.id}/current").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(SyncRequest)) == 0
