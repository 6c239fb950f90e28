"""Personal API tokens: made in Settings or the CLI, hashed, last-used, revoked, throttled."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import select

from app.extensions import db
from app.models import ApiToken, AuditLog

HX = {"HX-Request": "true"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create_in_settings(client, name="Deploy script") -> str:
    response = client.post("/settings/tokens", data={"token-name": name}, headers=HX)
    assert response.status_code == 201
    match = re.search(rb'value="(lk_[A-Za-z0-9_-]{40,})"', response.data)
    assert match, "the new token is shown once"
    return match.group(1).decode()


def test_create_use_and_revoke_a_token(client, make_user, login):
    user = make_user()
    login(user)
    raw = create_in_settings(client)
    stored = db.session.scalar(select(ApiToken))
    assert stored.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(stored.__dict__)  # only the hash is kept

    page = client.get("/settings")
    assert raw.encode() not in page.data  # never shown again
    assert b"Deploy script" in page.data and raw[:7].encode() in page.data and b"never" in page.data

    api = client.application.test_client()  # no cookies: the token alone authenticates
    me = api.get("/api/v1/me", headers=bearer(raw))
    assert me.status_code == 200
    assert me.json == {
        **me.json,
        "email": "alice@example.com",
        "name": "Alice",
        "role": "user",
        "email_verified": True,
    }
    db.session.expire_all()
    assert db.session.get(ApiToken, stored.id).last_used_at is not None

    revoked = client.post(f"/settings/tokens/{stored.id}/revoke", headers=HX)
    assert revoked.status_code == 200 and b"revoked" in revoked.data
    after = api.get("/api/v1/me", headers=bearer(raw))
    assert after.status_code == 401
    assert after.json["error"] == "That API token is not valid or has been revoked."
    events = list(db.session.scalars(select(AuditLog.event).order_by(AuditLog.id)))
    assert events[-2:] == ["token_created", "token_revoked"]


def test_api_refuses_missing_and_bad_tokens_and_ignores_the_session(client, make_user, login):
    login(make_user())
    missing = client.get("/api/v1/me")  # a signed-in browser session is not enough
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Bearer" in missing.json["error"]
    for value in ("Bearer lk_not-a-real-token", "Bearer ", "Basic dXNlcjpwYXNz", "lk_abc"):
        response = client.get("/api/v1/me", headers={"Authorization": value})
        assert response.status_code == 401 and response.is_json


def test_api_is_csrf_exempt_but_token_checked(client, make_user, login):
    login(make_user())
    raw = create_in_settings(client)
    # No CSRF token, and an unknown route under /api: JSON answers, never the CSRF 400 page.
    response = client.post("/api/v1/me", headers=bearer(raw), csrf=False)
    assert response.status_code == 405 and response.is_json


def test_api_rate_limit_per_token(app, client, make_user, login):
    login(make_user())
    first, second = create_in_settings(client, "one"), create_in_settings(client, "two")
    app.config["API_RATE_LIMIT"] = "3 per minute"
    try:
        for _ in range(3):
            assert client.get("/api/v1/me", headers=bearer(first)).status_code == 200
        throttled = client.get("/api/v1/me", headers=bearer(first))
        assert throttled.status_code == 429 and throttled.is_json
        assert int(throttled.headers["Retry-After"]) > 0
        assert "Too many API requests" in throttled.json["error"]
        assert client.get("/api/v1/me", headers=bearer(second)).status_code == 200  # per token
    finally:
        app.config["API_RATE_LIMIT"] = "1000 per minute"


def test_token_name_is_required(client, make_user, login):
    login(make_user())
    response = client.post("/settings/tokens", data={"token-name": ""}, headers=HX)
    assert response.status_code == 422 and b"Give the token a name" in response.data


def test_cli_creates_users_and_tokens(app, client):
    runner = app.test_cli_runner()
    weak = runner.invoke(args=["users", "create", "ops@example.com", "--password", "password12345"])
    assert weak.exit_code != 0 and "too common" in weak.output
    made = runner.invoke(
        args=[
            "users",
            "create",
            "ops@example.com",
            "--password",
            "granite lantern parade",
            "--admin",
            "--name",
            "Ops",
        ]
    )
    assert made.exit_code == 0, made.output
    again = runner.invoke(
        args=["users", "create", "ops@example.com", "--password", "granite lantern parade"]
    )
    assert again.exit_code != 0 and "already exists" in again.output

    result = runner.invoke(args=["tokens", "create", "ops@example.com", "--name", "ci"])
    assert result.exit_code == 0, result.output
    raw = result.output.strip().splitlines()[-1]
    assert raw.startswith("lk_") and " " not in raw
    me = client.get("/api/v1/me", headers=bearer(raw))
    assert (
        me.json["role"] == "admin"
        and me.json["email_verified"] is True
        and me.json["name"] == "Ops"
    )
    missing = runner.invoke(args=["tokens", "create", "nobody@example.com"])
    assert missing.exit_code != 0 and "no account" in missing.output


def test_scopes_chosen_at_creation_limit_what_a_token_may_do(client, make_user, login):
    login(make_user())
    boxes = {"token-name": "Reader", "token-scopes": "1", "token-read": "y"}
    response = client.post("/settings/tokens", data=boxes, headers=HX)
    assert response.status_code == 201
    reader = re.search(rb'value="(lk_[A-Za-z0-9_-]{40,})"', response.data).group(1).decode()
    assert db.session.scalar(select(ApiToken.scopes).where(ApiToken.name == "Reader")) == "read"
    assert "<td>read</td>" in client.get("/settings").text

    api = client.application.test_client()
    assert api.get("/api/v1/me", headers=bearer(reader)).status_code == 200
    refused = api.patch("/api/v1/profile", json={"bio": "x"}, headers=bearer(reader))
    assert refused.status_code == 403 and refused.json["code"] == "insufficient_scope"
    assert "'write' scope" in refused.json["error"]
    assert 'scope="write"' in refused.headers["WWW-Authenticate"]
    assert api.get("/api/v1/analytics/summary", headers=bearer(reader)).status_code == 403

    none = {"token-name": "Nothing", "token-scopes": "1"}
    refused = client.post("/settings/tokens", data=none, headers=HX)
    assert refused.status_code == 422 and "Choose what the token may do" in refused.text
    # A post with the name alone (a script written before scopes) gets every scope.
    everything = create_in_settings(client, name="Old script")
    assert (
        api.patch("/api/v1/profile", json={"bio": "x"}, headers=bearer(everything)).status_code
        == 200
    )
    stored = db.session.scalar(select(ApiToken.scopes).where(ApiToken.name == "Old script"))
    assert stored == "read write analytics"
