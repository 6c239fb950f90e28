"""The sync JSON API: accounts, starting a sync, reading it back; validation and ownership."""

import pytest

from app.extensions import db
from app.models import User
from tests.sync_support import connect_mastodon, ready_images, settle
from tests.web.test_api_images import bearer


@pytest.fixture
def pat(make_user):
    return make_user(email="pat@example.com")


@pytest.fixture
def auth(pat):
    return bearer(pat)


@pytest.fixture
def alice(pat, fake_mastodon):
    return connect_mastodon(pat, fake_mastodon)


def test_accounts_lists_the_connected_accounts(client, auth, alice, fake_mastodon):
    answer = client.get("/api/v1/accounts", headers=auth)
    assert answer.status_code == 200
    host = fake_mastodon.url.split("//")[1]
    assert answer.json == [
        {
            "id": alice.id,
            "platform": "mastodon",
            "handle": f"@alice@{host}",
            "status": "connected",
            "expires_at": None,  # Mastodon tokens do not expire
            "last_pushed_at": None,
            "last_error": None,
            # nothing pushed yet, so nothing for the drift watch to compare
            "drift": {"readable": True, "checked_at": None, "slots": {}},
        }
    ]


def test_sync_with_nulls_pushes_the_current_images_everywhere(
    client, auth, pat, alice, fake_mastodon, run_jobs
):
    avatar, banner = ready_images(pat, run_jobs)
    body = {"avatar_id": None, "banner_id": None, "accounts": None}
    for _ in range(2):  # the second call is a repeat: nothing is uploaded again
        answer = client.post("/api/v1/sync", json=body, headers=auth)
        assert answer.status_code == 202
        sync_id = answer.json["id"]
        assert answer.json == {"id": sync_id}
        settle(run_jobs, sync_id)
        status = client.get(f"/api/v1/sync/{sync_id}", headers=auth).json
        assert status["id"] == sync_id and status["status"] == "succeeded"
        assert sorted(
            (t["account_id"], t["platform"], t["slot"], t["attempts"], t["error"])
            for t in status["tasks"]
        ) == [(alice.id, "mastodon", "avatar", 1, None), (alice.id, "mastodon", "banner", 1, None)]
    assert [t["status"] for t in status["tasks"]] == ["skipped", "skipped"]
    assert len(fake_mastodon.pushes) == 2


def test_sync_with_chosen_images_and_accounts(client, auth, pat, alice, run_jobs):
    ready_images(pat, run_jobs)
    older_avatar, _ = ready_images(pat, run_jobs, seed=4)  # in the library, not current
    answer = client.post(
        "/api/v1/sync",
        json={"avatar_id": older_avatar.id, "banner_id": None, "accounts": [alice.id]},
        headers=auth,
    )
    assert answer.status_code == 202
    status = client.get(f"/api/v1/sync/{answer.json['id']}", headers=auth).json
    assert [(t["slot"], t["status"]) for t in status["tasks"]] == [
        ("avatar", "queued"),
        ("banner", "queued"),
    ]
    assert status["status"] == "queued" and status["avatar_id"] == older_avatar.id


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "JSON object"),
        ([1, 2], "JSON object"),
        ({"avatar_id": "1"}, "avatar_id must be an image id"),
        ({"banner_id": True}, "banner_id must be an image id"),
        ({"avatar_id": -3}, "avatar_id must be an image id"),
        ({"avatar_id": 2**40}, "avatar_id must be an image id"),
        ({"accounts": "all"}, "accounts must be a list"),
        ({"accounts": ["1"]}, "accounts must be a list"),
        ({"accounts": [1.5]}, "accounts must be a list"),
    ],
)
def test_bad_input_is_a_400_with_a_reason(client, auth, body, message):
    if isinstance(body, str):
        answer = client.post(
            "/api/v1/sync", data=body, content_type="application/json", headers=auth
        )
    else:
        answer = client.post("/api/v1/sync", json=body, headers=auth)
    assert answer.status_code == 400
    assert message in answer.json["error"]


def test_nothing_to_sync_says_what_to_do_first(client, auth, pat, run_jobs, fake_mastodon):
    answer = client.post("/api/v1/sync", json={}, headers=auth)
    assert answer.status_code == 422 and "Upload an avatar or a banner" in answer.json["error"]
    ready_images(pat, run_jobs)
    answer = client.post("/api/v1/sync", json={"accounts": None}, headers=auth)
    assert answer.status_code == 422 and "Connect an account first" in answer.json["error"]
    answer = client.post("/api/v1/sync", json={"accounts": []}, headers=auth)
    assert answer.status_code == 422


def test_another_persons_ids_are_404(client, auth, pat, alice, make_user, run_jobs, fake_mastodon):
    other: User = make_user(email="other@example.com")
    their_avatar, _ = ready_images(other, run_jobs, seed=7)
    their_account = connect_mastodon(other, fake_mastodon, "bob")
    ready_images(pat, run_jobs)
    theirs = bearer(other)
    their_sync = client.post("/api/v1/sync", json={}, headers=theirs).json["id"]
    db.session.commit()

    assert client.get(f"/api/v1/sync/{their_sync}", headers=auth).status_code == 404
    assert client.get("/api/v1/sync/999999", headers=auth).status_code == 404
    answer = client.post("/api/v1/sync", json={"avatar_id": their_avatar.id}, headers=auth)
    assert answer.status_code == 404
    answer = client.post("/api/v1/sync", json={"accounts": [their_account.id]}, headers=auth)
    assert answer.status_code == 404
    assert [a["id"] for a in client.get("/api/v1/accounts", headers=auth).json] == [alice.id]
