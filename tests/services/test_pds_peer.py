"""The local Bluesky PDS (tests/peers/pds.py) does what the profile-sync tests will lean on, over
plain XRPC: accounts with app passwords, blobs, the profile record, handle and DID resolution."""

from __future__ import annotations

import requests

from tests.images import avatar_jpeg, banner_jpeg


def test_a_profile_with_avatar_and_banner_reads_back_with_the_same_blob_bytes(pds):
    alice, bob = pds.create_account("alice"), pds.create_account("bob")
    avatar, banner = avatar_jpeg(200, seed=1), banner_jpeg(600, 200, seed=2)
    avatar_ref = pds.upload_blob(alice, avatar, "image/jpeg")
    banner_ref = pds.upload_blob(alice, banner, "image/jpeg")

    pds.put_profile(alice, {"displayName": "Alice", "avatar": avatar_ref, "banner": banner_ref})

    record = pds.profile(alice)
    assert record["displayName"] == "Alice"
    assert record["avatar"]["ref"] == avatar_ref["ref"]
    assert record["avatar"]["mimeType"] == "image/jpeg"
    assert pds.blob(alice, record["avatar"]["ref"]["$link"]) == avatar
    assert pds.blob(alice, record["banner"]["ref"]["$link"]) == banner
    assert pds.profile(bob) is None  # accounts are separate repos


def test_set_profile_changes_name_and_bio_and_keeps_the_avatar(pds):
    carol = pds.create_account("carol")
    avatar_ref = pds.upload_blob(carol, avatar_jpeg(100), "image/jpeg")
    pds.put_profile(carol, {"displayName": "Old", "avatar": avatar_ref})

    pds.set_profile(carol, "Carol", "Makes things.")

    record = pds.profile(carol)
    assert (record["displayName"], record["description"]) == ("Carol", "Makes things.")
    assert record["avatar"]["ref"] == avatar_ref["ref"]


def test_handle_resolves_to_the_did_whose_document_points_at_this_pds(pds):
    dave = pds.create_account("dave")

    assert dave.handle.endswith(".test")
    assert pds.resolve_handle(dave.handle) == dave.did
    document = pds.did_document(dave.did)
    assert f"at://{dave.handle}" in document["alsoKnownAs"]
    endpoints = [s["serviceEndpoint"] for s in document["service"] if s["id"] == "#atproto_pds"]
    assert endpoints == [pds.url]


def test_an_app_password_signs_in_refreshes_and_can_write_the_profile(pds):
    erin = pds.create_account("erin")

    session = requests.post(
        pds.xrpc("com.atproto.server.createSession"),
        json={"identifier": erin.handle, "password": erin.app_password},
        timeout=10,
    )
    assert session.status_code == 200, session.text
    assert session.json()["did"] == erin.did
    refreshed = requests.post(
        pds.xrpc("com.atproto.server.refreshSession"),
        headers={"Authorization": f"Bearer {session.json()['refreshJwt']}"},
        timeout=10,
    )
    assert refreshed.status_code == 200, refreshed.text
    access = refreshed.json()["accessJwt"]
    put = requests.post(
        pds.xrpc("com.atproto.repo.putRecord"),
        headers={"Authorization": f"Bearer {access}"},
        json={
            "repo": erin.did,
            "collection": "app.bsky.actor.profile",
            "rkey": "self",
            "record": {"$type": "app.bsky.actor.profile", "displayName": "Erin"},
        },
        timeout=10,
    )
    assert put.status_code == 200, put.text
    assert pds.profile(erin)["displayName"] == "Erin"


def test_a_wrong_app_password_is_refused(pds):
    frank = pds.create_account("frank")

    session = requests.post(
        pds.xrpc("com.atproto.server.createSession"),
        json={"identifier": frank.handle, "password": "aaaa-bbbb-cccc-dddd"},
        timeout=10,
    )
    assert session.status_code == 401
