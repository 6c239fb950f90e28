"""Profile text on the sync pages: the per-account preview (exactly what each platform gets,
cuts marked), unticking a platform, the status page and history rows, restore, and the API."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import SyncRequest, TaskStatus
from app.services import profiles
from app.services.sync import releases
from tests.sync_rows import make_account
from tests.web.test_api_images import bearer

LONG_BIO = ("🦉 " + "hoot " * 80).strip()  # 401 graphemes: over Bluesky's 256


def text_of(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def written(pat):
    profiles.update(pat, {"display_name": "Pat Example", "bio": LONG_BIO})
    db.session.commit()
    return pat


@pytest.fixture
def masto(pat):
    return make_account(pat)


@pytest.fixture
def sky(pat):
    return make_account(pat, platform="bluesky", handle="@pat.bsky.social")


def test_the_preview_shows_what_each_platform_gets_with_the_cut_marked(client, written, masto, sky):
    page = text_of(client.get("/sync"))
    assert 'name="profile" value="1"' in page
    assert f'id="text-preview-{masto.id}"' in page and f'id="text-preview-{sky.id}"' in page
    bluesky_part = page.split(f'id="text-preview-{sky.id}"')[1].split("</article>")[0]
    assert "Pat Example" in bluesky_part
    assert "Cut to fit (256 graphemes)" in bluesky_part
    shown = re.search(r'text-preview-value is-cut">([^<]*)<', bluesky_part)[1]
    assert shown.endswith("…") and shown.startswith("🦉 hoot hoot")
    assert profiles.count(shown, "graphemes") <= 256
    mastodon_part = page.split(f'id="text-preview-{masto.id}"')[1].split("</article>")[0]
    assert "Cut to fit" not in mastodon_part  # 401 characters fit Mastodon's 500


def test_the_preview_follows_the_accounts_ticked_above(client, written, masto, sky):
    partial = text_of(client.get(f"/sync/profile-preview?account_ids={sky.id}"))
    assert f'id="text-preview-{sky.id}"' in partial
    assert f'id="text-preview-{masto.id}"' not in partial
    assert "<html" not in partial


def test_an_unticked_platform_gets_no_profile_task(client, written, masto, sky):
    response = client.post(
        "/sync",
        data={"choose": "1", "avatar_id": "", "banner_id": "", "profile": "1",
              "account_ids": [str(masto.id), str(sky.id)], "profile_choice": "1",
              "profile_shown": [str(masto.id), str(sky.id)],
              "profile_account_ids": [str(masto.id)]},
    )  # fmt: skip
    assert response.status_code == 303
    release = db.session.scalar(select(SyncRequest))
    assert [(t.account_id, t.slot) for t in release.tasks] == [(masto.id, "profile")]
    assert release.profile_text["bio"] == LONG_BIO

    page = text_of(client.get(response.headers["Location"]))
    assert "Profile text" in page and "Syncing your profile text" in page


def test_text_only_without_any_account_taking_text_explains_itself(client, pat, written):
    youtube = make_account(pat, platform="youtube", handle="Pat's channel")
    response = client.post(
        "/sync",
        data={"choose": "1", "avatar_id": "", "banner_id": "", "profile": "1",
              "account_ids": [str(youtube.id)]},
    )  # fmt: skip
    assert response.status_code == 422
    assert "None of the chosen accounts takes profile text" in text_of(response)


def test_history_shows_the_text_and_restore_carries_it_again(client, written, masto):
    release = releases.start(written, profile=True, use_current=False)
    for task in release.tasks:
        task.status = TaskStatus.SUCCEEDED
    db.session.commit()
    profiles.update(written, {"bio": "Something else entirely."})
    db.session.commit()

    page = text_of(client.get("/history"))
    assert "Profile text" in page and "profile text</span>" in page
    assert f'action="/history/{release.id}/restore"' in page

    response = client.post(f"/history/{release.id}/restore")
    assert response.status_code == 303
    restored = db.session.scalars(select(SyncRequest).order_by(SyncRequest.id.desc())).first()
    assert restored.restored_from_id == release.id
    assert restored.profile_text["bio"] == LONG_BIO
    assert [t.slot for t in restored.tasks] == ["profile"]


# The API


def test_the_api_starts_a_text_sync_and_reports_it(client, written, masto, sky):
    auth = bearer(written)
    answer = client.post(
        "/api/v1/sync",
        json={"avatar_id": None, "banner_id": None, "profile": True,
              "profile_accounts": [sky.id]},
        headers=auth,
    )  # fmt: skip
    assert answer.status_code == 202, answer.json
    # No images were uploaded: the release carries only the text, to Bluesky only.
    body = client.get(f"/api/v1/sync/{answer.json['id']}", headers=auth).json
    assert body["profile"]["display_name"] == "Pat Example"
    assert [(t["account_id"], t["slot"]) for t in body["tasks"]] == [(sky.id, "profile")]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"profile": "yes"}, "profile"),
        ({"profile": 1}, "profile"),
        ({"profile": True, "profile_accounts": "all"}, "profile_accounts"),
        ({"profile": True, "profile_accounts": [0]}, "profile_accounts"),
        ({"profile": True, "profile_accounts": [True]}, "profile_accounts"),
    ],
)
def test_bad_profile_values_are_a_422_naming_the_field(client, written, masto, body, field):
    answer = client.post("/api/v1/sync", json=body, headers=bearer(written))
    assert answer.status_code == 422
    assert field in answer.json["fields"] and answer.json["error"]
    assert db.session.scalar(select(SyncRequest)) is None


def test_the_api_preview_shows_what_each_account_would_get(client, written, masto, sky):
    auth = bearer(written)
    answer = client.get(f"/api/v1/sync/preview?accounts={sky.id},{masto.id}", headers=auth)
    assert answer.status_code == 200
    by_account = {row["account_id"]: row for row in answer.json["accounts"]}
    assert by_account[sky.id]["cut"] == ["bio"]
    assert by_account[sky.id]["text"]["bio"].endswith("…")
    assert by_account[masto.id]["text"]["bio"] == LONG_BIO and by_account[masto.id]["cut"] == []
    stray = client.post(
        "/api/v1/sync", json={"profile": True, "profile_accounts": [masto.id + 1000]}, headers=auth
    )
    assert stray.status_code == 404 and "no connected account" in stray.json["error"]
    bad = client.get("/api/v1/sync/preview?accounts=one", headers=auth)
    assert bad.status_code == 422 and "accounts" in bad.json["fields"]


def test_sync_settings_offer_the_profile_text_and_honour_turning_it_off(client, written, masto):
    page = text_of(client.get("/settings/sync"))
    tag = re.search(rf'<input[^>]*name="slots-{masto.id}" value="profile"[^>]*>', page)
    assert tag and " checked" in tag.group(0) and "Profile text" in page

    saved = client.post(
        "/settings/sync",
        data={"default_account_ids": [str(masto.id)], "accounts": [str(masto.id)],
              f"slots-{masto.id}": ["avatar", "banner"]},
    )  # fmt: skip
    assert saved.status_code in (200, 303)
    db.session.expire_all()
    assert "profile" in masto.slots_off
    with pytest.raises(releases.NothingToSync, match="takes profile text"):
        releases.start(written, profile=True, use_current=False)
    assert f'id="text-preview-{masto.id}"' not in text_of(client.get("/sync"))
