"""The loopback Mastodon and Bluesky fakes enforce what they claim: the sync engine's tests and
benchmarks are only as strict as these servers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from tests.peers.bluesky_fake import FakeBluesky
from tests.peers.mastodon import FakeMastodon
from tests.peers.mastodon_oauth import s256
from tests.unit import images as gen

CALLBACK = "http://127.0.0.1:5000/platforms/mastodon/callback"
ROOT = Path(__file__).resolve().parents[2]


def png(seed: int = 1, size: int = 48) -> bytes:
    return gen.png(gen.photo(size, size, seed=seed))


def jpeg(seed: int = 1, size: int = 48) -> bytes:
    return gen.jpeg(gen.photo(size, size, seed=seed))


def reset_time(response: requests.Response) -> datetime:
    return datetime.fromisoformat(response.headers["X-RateLimit-Reset"])


# --- Mastodon: OAuth -------------------------------------------------------------------------


def register(fake: FakeMastodon, **extra) -> dict:
    data = {"client_name": "Linkarooie", "redirect_uris": CALLBACK, "scopes": "read write"}
    response = requests.post(f"{fake.url}/api/v1/apps", data={**data, **extra}, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def authorize(fake: FakeMastodon, app: dict, **params) -> dict[str, str]:
    """Follow /oauth/authorize as the browser would; the query of the redirect back."""
    query = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": CALLBACK,
        "scope": "read write",
        "state": "st4te",
        **params,
    }
    response = requests.get(
        f"{fake.url}/oauth/authorize", params=query, allow_redirects=False, timeout=5
    )
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(CALLBACK + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def session(fake: FakeMastodon, app: dict, secret: str | None = None) -> OAuth2Session:
    return OAuth2Session(
        app["client_id"],
        secret or app["client_secret"],
        scope="read write",
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
    )


def test_apps_take_form_or_json_and_are_counted(fake_mastodon: FakeMastodon):
    one = register(fake_mastodon, redirect_uris=f"{CALLBACK}\nurn:ietf:wg:oauth:2.0:oob")
    assert one["redirect_uris"] == [CALLBACK, "urn:ietf:wg:oauth:2.0:oob"]
    body = {"client_name": "L", "redirect_uris": [CALLBACK], "scopes": "write:accounts"}
    two = requests.post(f"{fake_mastodon.url}/api/v1/apps", json=body, timeout=5).json()
    assert two["redirect_uri"] == CALLBACK and two["client_secret"] != one["client_secret"]
    bad = requests.post(f"{fake_mastodon.url}/api/v1/apps", data={"client_name": "x"}, timeout=5)
    assert bad.status_code == 422 and "Redirect URI can't be blank" in bad.json()["error"]
    assert len(fake_mastodon.apps) == 2


def test_authorization_code_with_pkce_through_authlib(fake_mastodon: FakeMastodon):
    app = register(fake_mastodon)
    client = session(fake_mastodon, app)
    verifier = generate_token(48)
    url, state = client.create_authorization_url(
        f"{fake_mastodon.url}/oauth/authorize", code_verifier=verifier, force_login="true"
    )
    back = requests.get(url, allow_redirects=False, timeout=5).headers["Location"]
    token = client.fetch_token(
        f"{fake_mastodon.url}/oauth/token", authorization_response=back, code_verifier=verifier
    )
    assert token["token_type"] == "Bearer" and token["scope"] == "read write"
    me = client.get(f"{fake_mastodon.url}/api/v1/accounts/verify_credentials", timeout=5)
    assert me.status_code == 200
    assert me.json()["username"] == "alice" and me.json()["source"]["note"] == ""
    assert parse_qs(urlsplit(back).query)["state"] == [state]


def exchange(fake: FakeMastodon, app: dict, code: str, **extra) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        **extra,
    }
    return requests.post(f"{fake.url}/oauth/token", data=data, timeout=5)


def test_wrong_pkce_verifier_is_invalid_grant(fake_mastodon: FakeMastodon):
    app = register(fake_mastodon)
    verifier = generate_token(48)
    code = authorize(
        fake_mastodon, app, code_challenge=s256(verifier), code_challenge_method="S256"
    )
    wrong = exchange(fake_mastodon, app, code["code"], code_verifier=generate_token(48))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    missing = exchange(fake_mastodon, app, code["code"])
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    assert exchange(fake_mastodon, app, code["code"], code_verifier=verifier).status_code == 200


def test_wrong_client_secret_is_invalid_client(fake_mastodon: FakeMastodon):
    app = register(fake_mastodon)
    code = authorize(fake_mastodon, app)["code"]
    post = exchange(fake_mastodon, app, code, client_secret="nope")
    assert post.status_code == 401 and post.json()["error"] == "invalid_client"
    basic = requests.post(
        f"{fake_mastodon.url}/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        auth=(app["client_id"], "nope"),
        timeout=5,
    )
    assert basic.status_code == 401
    good = requests.post(
        f"{fake_mastodon.url}/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
        auth=(app["client_id"], app["client_secret"]),
        timeout=5,
    )
    assert good.status_code == 200


def test_a_code_works_once_and_only_with_its_redirect_uri(fake_mastodon: FakeMastodon):
    app = register(fake_mastodon, redirect_uris=f"{CALLBACK} http://127.0.0.1:5000/other")
    code = authorize(fake_mastodon, app)["code"]
    moved = exchange(fake_mastodon, app, code, redirect_uri="http://127.0.0.1:5000/other")
    assert moved.status_code == 400 and moved.json()["error"] == "invalid_grant"
    assert exchange(fake_mastodon, app, code).status_code == 200
    again = exchange(fake_mastodon, app, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_authorize_refuses_unknown_clients_and_redirects(fake_mastodon: FakeMastodon):
    app = register(fake_mastodon)
    url = f"{fake_mastodon.url}/oauth/authorize"
    base = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": CALLBACK}
    unknown = requests.get(url, params={**base, "client_id": "x"}, allow_redirects=False, timeout=5)
    assert unknown.status_code == 400 and "text/html" in unknown.headers["Content-Type"]
    elsewhere = {**base, "redirect_uri": "http://evil.example/cb"}
    assert requests.get(url, params=elsewhere, allow_redirects=False, timeout=5).status_code == 400
    fake_mastodon.deny = True
    denied = authorize(fake_mastodon, app)
    assert denied["error"] == "access_denied" and denied["state"] == "st4te"
    fake_mastodon.deny = False
    assert authorize(fake_mastodon, app, scope="admin:write")["error"] == "invalid_scope"


def test_revoked_token_is_dead(fake_mastodon: FakeMastodon):
    app = register(fake_mastodon)
    token = exchange(fake_mastodon, app, authorize(fake_mastodon, app)["code"]).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    me = f"{fake_mastodon.url}/api/v1/accounts/verify_credentials"
    assert requests.get(me, headers=bearer, timeout=5).status_code == 200
    data = {"client_id": app["client_id"], "client_secret": app["client_secret"]}
    revoked = requests.post(
        f"{fake_mastodon.url}/oauth/revoke",
        data={**data, "token": token["access_token"]},
        timeout=5,
    )
    assert revoked.status_code == 200 and revoked.json() == {}
    dead = requests.get(me, headers=bearer, timeout=5)
    assert dead.status_code == 401 and dead.json() == {"error": "The access token was revoked"}
    nobody = requests.get(me, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert nobody.json() == {"error": "The access token is invalid"}


def test_app_only_token_cannot_update_an_account(fake_mastodon: FakeMastodon):
    app = register(fake_mastodon)
    token = requests.post(
        f"{fake_mastodon.url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "read write"},
        auth=(app["client_id"], app["client_secret"]),
        timeout=5,
    ).json()["access_token"]
    answer = patch(fake_mastodon, token, avatar=png())
    assert answer.status_code == 422
    assert answer.json() == {"error": "This method requires an authenticated user"}


# --- Mastodon: update_credentials ------------------------------------------------------------


def patch(fake: FakeMastodon, token: str, **files: bytes) -> requests.Response:
    return requests.patch(
        f"{fake.url}/api/v1/accounts/update_credentials",
        headers={"Authorization": f"Bearer {token}"},
        files={slot: (f"{slot}.png", data, "image/png") for slot, data in files.items()},
        timeout=5,
    )


def test_update_credentials_round_trips_the_bytes(fake_mastodon: FakeMastodon):
    token = fake_mastodon.token_for("alice")
    avatar, header = png(1), jpeg(2, size=64)
    answer = patch(fake_mastodon, token, avatar=avatar, header=header)
    assert answer.status_code == 200, answer.text
    account = answer.json()
    assert "/system/accounts/avatars/" in account["avatar"] and account["header"].endswith(".jpg")
    assert requests.get(account["avatar"], timeout=5).content == avatar
    assert requests.get(account["header_static"], timeout=5).content == header
    assert fake_mastodon.current("alice") == {"avatar": avatar, "header": header}
    assert [p["field"] for p in fake_mastodon.pushes] == ["avatar", "header"]
    assert answer.headers["X-RateLimit-Limit"] == "300"
    post = requests.post(
        f"{fake_mastodon.url}/api/v1/accounts/update_credentials",
        headers={"Authorization": f"Bearer {token}"},
        files={"avatar": ("a.png", avatar, "image/png")},
        timeout=5,
    )
    assert post.status_code in {404, 405}


def test_bad_or_big_images_are_422(fake_mastodon: FakeMastodon):
    token = fake_mastodon.token_for("alice")
    fake_bytes = patch(fake_mastodon, token, avatar=b"<html>not an image</html>")
    assert fake_bytes.status_code == 422
    assert fake_bytes.json()["error"] == (
        "Validation failed: Avatar has contents that are not what they are reported to be"
    )
    fake_mastodon.header_limit = 1024
    too_big = patch(fake_mastodon, token, header=png(3, size=128))
    assert too_big.status_code == 422
    assert "Header file size must be less than 1 KB" in too_big.json()["error"]
    assert fake_mastodon.current("alice") == {"avatar": None, "header": None}


def test_rate_limit_answers_429_with_an_iso_reset(fake_mastodon: FakeMastodon):
    token = fake_mastodon.token_for("bob")
    fake_mastodon.rate_limit(1, 60)
    first = patch(fake_mastodon, token, avatar=png(1))
    assert first.status_code == 200 and first.headers["X-RateLimit-Remaining"] == "0"
    second = patch(fake_mastodon, token, avatar=png(2))
    assert second.status_code == 429 and second.json() == {"error": "Too many requests"}
    assert second.headers["X-RateLimit-Limit"] == "1"
    assert second.headers["X-RateLimit-Reset"].endswith("Z")
    assert reset_time(second) > datetime.now(UTC)
    assert [p["status"] for p in fake_mastodon.pushes] == [200, 429]


def test_fail_next_scripts_faults_and_never_stores(fake_mastodon: FakeMastodon):
    token = fake_mastodon.token_for("alice")
    fake_mastodon.fail_next(429, reset_in=3)
    fake_mastodon.fail_next(502, times=2)
    before = datetime.now(UTC)
    limited = patch(fake_mastodon, token, avatar=png(1))
    after = datetime.now(UTC)
    assert limited.status_code == 429
    assert before + timedelta(seconds=3) <= reset_time(limited) <= after + timedelta(seconds=3)
    assert patch(fake_mastodon, token, avatar=png(1)).status_code == 502
    assert patch(fake_mastodon, token, avatar=png(1)).status_code == 502
    assert fake_mastodon.current("alice")["avatar"] is None
    assert patch(fake_mastodon, token, avatar=png(1)).status_code == 200
    assert fake_mastodon.duplicate_pushes() == 0  # retries of failed pushes are not duplicates


def test_duplicate_pushes_count_bytes_already_stored(fake_mastodon: FakeMastodon):
    token = fake_mastodon.token_for("alice")
    one, two = png(1), png(2)
    for data in (one, one, two, one):
        assert patch(fake_mastodon, token, avatar=data).status_code == 200
    assert patch(fake_mastodon, token, header=one).status_code == 200  # other field: new
    assert fake_mastodon.duplicate_pushes() == 1
    assert [p["duplicate"] for p in fake_mastodon.pushes] == [False, True, False, False, False]


def test_chaos_is_seeded_and_shaped_like_mastodon(fake_mastodon: FakeMastodon):
    token = fake_mastodon.token_for("alice")
    fake_mastodon.chaos(fault_rate=0.5, latency=(0.0, 0.0), seed=7)
    statuses = []
    for seed in range(20):
        answer = patch(fake_mastodon, token, avatar=png(seed))
        statuses.append(answer.status_code)
        if answer.status_code == 429:
            assert reset_time(answer) > datetime.now(UTC) - timedelta(seconds=1)
    assert set(statuses) - {200} and 200 in statuses
    assert set(statuses) <= {200, 429, 500, 502, 503}
    assert [p["status"] for p in fake_mastodon.pushes] == statuses


def test_instance_documents_advertise_limits(fake_mastodon: FakeMastodon):
    v2 = requests.get(f"{fake_mastodon.url}/api/v2/instance", timeout=5).json()
    media = v2["configuration"]["media_attachments"]
    assert (
        media["image_size_limit"] == 16 * 1024 * 1024
        and "image/webp" in media["supported_mime_types"]
    )
    assert v2["configuration"]["accounts"]["max_pinned_statuses"] == 5
    v1 = requests.get(f"{fake_mastodon.url}/api/v1/instance", timeout=5).json()
    assert v1["version"] == v2["version"]


@pytest.fixture
def standalone_mastodon() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.peers.mastodon", "--port", "0", "--first-push-429", "3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    try:
        assert line.startswith("MASTODON_READY http://127.0.0.1:"), line
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(10)


def test_standalone_first_push_is_rate_limited(standalone_mastodon: str):
    fake_url = standalone_mastodon
    app = requests.post(
        f"{fake_url}/api/v1/apps",
        data={"client_name": "L", "redirect_uris": CALLBACK, "scopes": "read write"},
        timeout=5,
    ).json()
    code = requests.get(
        f"{fake_url}/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": app["client_id"],
            "redirect_uri": CALLBACK,
            "scope": "read write",
        },
        allow_redirects=False,
        timeout=5,
    ).headers["Location"]
    token = requests.post(
        f"{fake_url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": parse_qs(urlsplit(code).query)["code"][0],
            "redirect_uri": CALLBACK,
        },
        auth=(app["client_id"], app["client_secret"]),
        timeout=5,
    ).json()["access_token"]
    url = f"{fake_url}/api/v1/accounts/update_credentials"
    files = {"avatar": ("a.png", png(), "image/png")}
    headers = {"Authorization": f"Bearer {token}"}
    first = requests.patch(url, headers=headers, files=files, timeout=5)
    assert first.status_code == 429 and reset_time(first) > datetime.now(UTC)
    assert requests.patch(url, headers=headers, files=files, timeout=5).status_code == 200


# --- Bluesky ---------------------------------------------------------------------------------


@pytest.fixture
def fake_bluesky() -> Iterator[FakeBluesky]:
    server = FakeBluesky()
    server.add_account("alice.test", "app-pass-word")
    server.start()
    yield server
    server.stop()


def xrpc(fake: FakeBluesky, method: str, token: str | None = None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    verb = "GET" if method.endswith(("getRecord", "resolveHandle")) else "POST"
    return requests.request(verb, f"{fake.url}/xrpc/{method}", headers=headers, timeout=5, **kwargs)


def login(fake: FakeBluesky) -> dict:
    body = {"identifier": "alice.test", "password": "app-pass-word"}
    answer = xrpc(fake, "com.atproto.server.createSession", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def upload(fake: FakeBluesky, token: str, data: bytes, mime: str = "image/jpeg") -> dict:
    answer = requests.post(
        f"{fake.url}/xrpc/com.atproto.repo.uploadBlob",
        headers={"Authorization": f"Bearer {token}", "Content-Type": mime},
        data=data,
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["blob"]


def put_profile(fake: FakeBluesky, auth: dict, record: dict, **swap) -> requests.Response:
    body = {"repo": auth["did"], "collection": "app.bsky.actor.profile", "rkey": "self"}
    return xrpc(
        fake,
        "com.atproto.repo.putRecord",
        auth["accessJwt"],
        json={**body, "record": record, **swap},
    )


def test_bluesky_login_and_swap_record(fake_bluesky: FakeBluesky):
    wrong = xrpc(
        fake_bluesky,
        "com.atproto.server.createSession",
        json={"identifier": "alice.test", "password": "nope"},
    )
    assert wrong.status_code == 401
    auth = login(fake_bluesky)
    assert auth["active"] is True and auth["accessJwt"].count(".") == 2
    params = {"repo": auth["did"], "collection": "app.bsky.actor.profile", "rkey": "self"}
    missing = xrpc(fake_bluesky, "com.atproto.repo.getRecord", params=params)
    assert missing.status_code == 400 and missing.json()["error"] == "RecordNotFound"
    blob = upload(fake_bluesky, auth["accessJwt"], jpeg(1))
    assert blob["ref"]["$link"].startswith("bafkrei") and blob["mimeType"] == "image/jpeg"
    created = put_profile(
        fake_bluesky, auth, {"displayName": "Alice", "avatar": blob}, swapRecord=None
    )
    assert created.status_code == 200, created.text
    assert created.headers["RateLimit-Reset"].isdigit()
    current = xrpc(fake_bluesky, "com.atproto.repo.getRecord", params=params).json()
    assert current["cid"] == created.json()["cid"] and current["value"]["displayName"] == "Alice"
    stale = put_profile(fake_bluesky, auth, current["value"], swapRecord="bafyreistale")
    assert stale.status_code == 400 and stale.json()["error"] == "InvalidSwap"
    banner = upload(fake_bluesky, auth["accessJwt"], jpeg(2, size=64))
    fresh = put_profile(
        fake_bluesky, auth, {**current["value"], "banner": banner}, swapRecord=current["cid"]
    )
    assert fresh.status_code == 200
    assert fake_bluesky.current("alice.test") == {"avatar": jpeg(1), "banner": jpeg(2, size=64)}
    assert [p["field"] for p in fake_bluesky.pushes] == ["avatar", "banner"]  # not avatar twice


def test_bluesky_refuses_big_or_non_profile_images(fake_bluesky: FakeBluesky):
    auth = login(fake_bluesky)
    big = upload(fake_bluesky, auth["accessJwt"], b"\xff\xd8\xff" + b"\0" * 1_000_000)
    answer = put_profile(fake_bluesky, auth, {"avatar": big})
    assert answer.status_code == 400 and answer.json()["error"] == "InvalidRecord"
    gif = upload(fake_bluesky, auth["accessJwt"], b"GIF89a" + b"\0" * 20, mime="image/gif")
    assert put_profile(fake_bluesky, auth, {"banner": gif}).json()["error"] == "InvalidRecord"


def test_bluesky_tokens_expire_and_refresh_rotates():
    fake = FakeBluesky(access_ttl=0)
    fake.add_account("bob.test", "pw")
    fake.start()
    try:
        auth = xrpc(
            fake,
            "com.atproto.server.createSession",
            json={"identifier": "bob.test", "password": "pw"},
        ).json()
        expired = requests.post(
            f"{fake.url}/xrpc/com.atproto.repo.uploadBlob",
            headers={"Authorization": f"Bearer {auth['accessJwt']}", "Content-Type": "image/png"},
            data=png(),
            timeout=5,
        )
        assert expired.status_code == 400
        assert expired.json() == {"error": "ExpiredToken", "message": "Token has expired"}
        wrong_kind = xrpc(fake, "com.atproto.server.refreshSession", auth["accessJwt"])
        assert wrong_kind.json()["error"] == "InvalidToken"
        renewed = xrpc(fake, "com.atproto.server.refreshSession", auth["refreshJwt"])
        assert renewed.status_code == 200
        assert renewed.json()["refreshJwt"] != auth["refreshJwt"]
        reused = xrpc(fake, "com.atproto.server.refreshSession", auth["refreshJwt"])
        assert reused.status_code == 400 and reused.json()["error"] == "ExpiredToken"
        assert xrpc(fake, "com.atproto.server.refreshSession", renewed.json()["refreshJwt"]).ok
    finally:
        fake.stop()


def test_bluesky_rate_limits_faults_and_duplicates(fake_bluesky: FakeBluesky):
    auth = login(fake_bluesky)
    fake_bluesky.rate_limit(2, 3600)
    blob = upload(fake_bluesky, auth["accessJwt"], jpeg(1))
    assert put_profile(fake_bluesky, auth, {"avatar": blob}).status_code == 200
    again = upload(fake_bluesky, auth["accessJwt"], jpeg(1))  # the same bytes once more
    assert put_profile(fake_bluesky, auth, {"avatar": again}).status_code == 200
    assert fake_bluesky.duplicate_pushes() == 1
    limited = put_profile(
        fake_bluesky, auth, {"avatar": upload(fake_bluesky, auth["accessJwt"], jpeg(3))}
    )
    assert limited.status_code == 429 and limited.json()["error"] == "RateLimitExceeded"
    assert limited.headers["RateLimit-Policy"] == "2;w=3600"
    assert int(limited.headers["RateLimit-Reset"]) > datetime.now(UTC).timestamp()
    fake_bluesky.push_limit = None
    fake_bluesky.fail_next(503)
    unchanged = put_profile(fake_bluesky, auth, {"avatar": blob, "displayName": "A"})
    assert unchanged.status_code == 503  # scripted faults answer any putRecord, push or not
    fresh = upload(fake_bluesky, auth["accessJwt"], jpeg(4))
    assert put_profile(fake_bluesky, auth, {"avatar": fresh}).status_code == 200
    assert [p["status"] for p in fake_bluesky.pushes] == [200, 200, 429, 200]
