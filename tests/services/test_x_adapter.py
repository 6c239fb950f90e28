"""X: the OAuth 1.0a three-legged flow against a loopback X that really checks HMAC-SHA1
signatures (RFC 5849), pushes of both images, and what X's errors become."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.models import AccountStatus, PlatformAccount, TaskStatus
from app.services.platforms import connections, get
from app.services.platforms.base import ConnectFailed, Connection, Permanent
from app.services.sync import releases
from tests.images import add_user
from tests.peers.x_fake import FakeX
from tests.sync_support import ready_images, settle, task_of, variant_bytes

CALLBACK = "http://localhost/connections/x/callback"
X_SETTINGS = ("X_CLIENT_ID", "X_CLIENT_SECRET", "X_API_BASE_URL", "X_AUTH_BASE_URL")


@contextmanager
def configure(app, **settings) -> Iterator[None]:
    """X settings for one test; the app is shared, so they are put back afterwards."""
    before = {name: app.config.get(name) for name in X_SETTINGS}
    app.config.update(settings)
    try:
        yield
    finally:
        app.config.update(before)


@pytest.fixture
def x_app(app, fake_x: FakeX) -> Iterator[FakeX]:
    """This site configured with the fake's consumer key and secret."""
    with configure(
        app,
        X_CLIENT_ID=fake_x.consumer_key,
        X_CLIENT_SECRET=fake_x.consumer_secret,
        X_API_BASE_URL=fake_x.url,
        X_AUTH_BASE_URL=fake_x.url,
    ):
        yield fake_x


def authorize(url: str) -> dict[str, str]:
    """The person's browser at X: approve, and come back with the token and a verifier."""
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(CALLBACK)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def connect_x(user, fake_x: FakeX, name: str = "alice") -> PlatformAccount:
    token, secret = fake_x.token_for(name)
    account = connections.save(
        user,
        "x",
        Connection(
            remote_id=fake_x.users[name].id_str,
            handle=f"@{name}",
            access_token=token,
            secret=secret,
        ),
    )
    db.session.commit()
    return account


def test_connecting_runs_the_three_legs_with_valid_signatures(app, x_app, fake_x):
    x = get("x")
    start = x.start_authorization({}, CALLBACK)
    assert start.url.startswith(f"{fake_x.url}/oauth/authorize?oauth_token=")
    back = authorize(start.url)
    assert back["oauth_token"] == start.pending["state"]

    connection = x.finish_authorization(start.pending, back, CALLBACK)
    assert connection.handle == "@alice"
    assert connection.remote_id == fake_x.users["alice"].id_str
    assert fake_x.access_tokens[connection.access_token].secret == connection.secret
    assert fake_x.refused == []

    # the request token was single use
    with pytest.raises(ConnectFailed, match="refused the sign-in"):
        x.finish_authorization(start.pending, back, CALLBACK)


def test_a_wrong_consumer_secret_is_refused_by_the_signature_check(app, x_app, fake_x):
    app.config["X_CLIENT_SECRET"] = "not-the-secret"
    with pytest.raises(ConnectFailed, match="Could not authenticate you"):
        get("x").start_authorization({}, CALLBACK)
    assert fake_x.refused == ["signature mismatch"]


def test_a_denied_authorization_says_so(app, x_app, fake_x):
    fake_x.deny = True
    x = get("x")
    start = x.start_authorization({}, CALLBACK)
    with pytest.raises(ConnectFailed, match="did not authorize"):
        x.finish_authorization(start.pending, authorize(start.url), CALLBACK)


def test_connecting_through_the_pages(app, x_app, fake_x, client, make_user, login):
    pat = make_user(email="pat@example.com")
    login(pat)
    started = client.post("/connections/x")
    assert started.status_code == 303
    at_x = requests.get(started.headers["Location"], allow_redirects=False, timeout=10)
    back = urlsplit(at_x.headers["Location"])
    done = client.get(f"{back.path}?{back.query}")
    assert done.status_code == 303
    account = db.session.scalar(select(PlatformAccount).filter_by(user_id=pat.id, platform="x"))
    assert account.handle == "@alice" and account.status is AccountStatus.CONNECTED
    assert account.secret  # the token secret signs every later call


def test_a_sync_pushes_both_images(app, x_app, fake_x, run_jobs):
    pat = add_user("pat@example.com")
    connect_x(pat, fake_x)
    avatar, banner = ready_images(pat, run_jobs)
    release = releases.start(pat)
    db.session.commit()
    release = settle(run_jobs, release.id)

    assert {t.slot: t.status for t in release.tasks} == {
        "avatar": TaskStatus.SUCCEEDED,
        "banner": TaskStatus.SUCCEEDED,
    }
    shown = fake_x.current("alice")
    assert shown["avatar"] == variant_bytes(app, avatar, "x_avatar")
    assert shown["banner"] == variant_bytes(app, banner, "x_banner")
    assert task_of(release, "avatar").remote_url.startswith(fake_x.url)
    assert fake_x.refused == [] and fake_x.duplicate_pushes() == 0


def test_a_401_marks_the_account_for_reconnecting(app, x_app, fake_x, run_jobs):
    pat = add_user("pat@example.com")
    account = connect_x(pat, fake_x)
    ready_images(pat, run_jobs)
    fake_x.fail_next(401, times=2)
    release = releases.start(pat)
    db.session.commit()
    release = settle(run_jobs, release.id)

    assert {t.status for t in release.tasks} == {TaskStatus.NEEDS_RECONNECT}
    account = db.session.get(PlatformAccount, account.id)
    assert account.status is AccountStatus.EXPIRED
    assert account.last_error == "X refused our access: Invalid or expired token."


def test_a_429_is_retried_at_the_reset_x_gave(app, x_app, fake_x, run_jobs):
    pat = add_user("pat@example.com")
    connect_x(pat, fake_x)
    ready_images(pat, run_jobs)
    fake_x.fail_next(429, reset_in=2, times=2)  # the first push of each slot
    release = releases.start(pat)
    db.session.commit()
    started = datetime.now(UTC)
    run_jobs()
    db.session.expire_all()

    for task in release.tasks:
        assert task.status is TaskStatus.RETRYING
        assert task.error == "X's rate limit was reached."
        # at X's reset (whole seconds ahead), not after our own 30 s back-off
        assert (task.next_attempt_at - started).total_seconds() < 10

    release = settle(run_jobs, release.id)
    assert [t.status for t in release.tasks] == [TaskStatus.SUCCEEDED] * 2
    assert fake_x.current("alice")["avatar"] is not None


def test_an_oversize_avatar_fails_without_an_upload(app, x_app, fake_x, run_jobs, monkeypatch):
    monkeypatch.setattr(get("x"), "avatar_limit", 10_000)  # smaller than our avatar
    pat = add_user("pat@example.com")
    connect_x(pat, fake_x)
    ready_images(pat, run_jobs)
    release = releases.start(pat)
    db.session.commit()
    release = settle(run_jobs, release.id)

    avatar = task_of(release, "avatar")
    assert avatar.status is TaskStatus.FAILED
    assert "X accepts avatars up to 9 KB" in avatar.error
    assert [push["field"] for push in fake_x.pushes] == ["banner"]


def test_the_fake_refuses_avatars_over_700_kb_as_x_does(app, x_app, fake_x, monkeypatch):
    account = connect_x(add_user("pat@example.com"), fake_x)
    monkeypatch.setattr(get("x"), "avatar_limit", 10**9)  # let it through to X
    with pytest.raises(Permanent, match="X refused the image: Image file size must be <= 700KB"):
        get("x").push(account, "avatar", b"\xff\xd8\xff" + b"0" * 800_000, "image/jpeg")


def test_unconfigured_x_is_listed_but_cannot_be_connected(app, client, make_user, login):
    with configure(app, X_CLIENT_ID=None, X_CLIENT_SECRET=None):
        login(make_user(email="pat@example.com"))
        page = client.get("/connections").get_data(as_text=True)
        card = page.split('id="platform-x"')[1].split("</article>")[0]
        assert "Not configured on this site" in card and "Connect X" not in card
        refused = client.post("/connections/x")
        assert refused.status_code == 400
        assert "X is not configured on this site." in refused.get_data(as_text=True)
