"""Gravatar: the WordPress.com code flow with `state` against a loopback server that checks the
client secret and redirect URI, and pushes that upload the avatar and select it for the email."""

from __future__ import annotations

from datetime import UTC, datetime
from io import BytesIO
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from PIL import Image

from app.extensions import db
from app.models import AccountStatus, PlatformAccount, TaskStatus, User
from app.services.platforms import connections, get
from app.services.platforms.base import ConnectFailed, Permanent
from app.services.platforms.gravatar import email_hash
from app.services.sync import releases
from tests.images import add_user
from tests.peers.gravatar_fake import CLIENT_ID, CLIENT_SECRET
from tests.sync_support import ready_images, settle, variant_bytes

CALLBACK = "http://localhost/connections/gravatar/callback"
SETTINGS = (
    "GRAVATAR_CLIENT_ID",
    "GRAVATAR_CLIENT_SECRET",
    "GRAVATAR_AUTH_BASE_URL",
    "GRAVATAR_API_BASE_URL",
)


@pytest.fixture
def gravatar_site(app, fake_gravatar):
    """The site configured with an app registered at the fake; settings restored afterwards."""
    before = {name: app.config.get(name) for name in SETTINGS}
    app.config.update(
        GRAVATAR_CLIENT_ID=CLIENT_ID,
        GRAVATAR_CLIENT_SECRET=CLIENT_SECRET,
        GRAVATAR_AUTH_BASE_URL=fake_gravatar.url,
        GRAVATAR_API_BASE_URL=fake_gravatar.url,
    )
    yield fake_gravatar
    app.config.update(before)


def authorize(url: str) -> dict[str, str]:
    """What the browser does at WordPress.com: approve, and come back with a code."""
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(CALLBACK)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def connect(fake) -> tuple[User, PlatformAccount]:
    gravatar = get("gravatar")
    start = gravatar.start_authorization({}, CALLBACK)
    connection = gravatar.finish_authorization(start.pending, authorize(start.url), CALLBACK)
    pat = add_user("pat@example.com")
    account = connections.save(pat, "gravatar", connection)
    db.session.commit()
    return pat, account


def test_connecting_runs_the_code_flow_and_keeps_the_email_hash(gravatar_site):
    gravatar = get("gravatar")
    assert gravatar.is_configured()
    start = gravatar.start_authorization({}, CALLBACK)
    query = parse_qs(urlsplit(start.url).query)
    assert query["state"] == [start.pending["state"]]
    assert query["scope"] == ["auth gravatar-profile:manage"]
    back = authorize(start.url)
    assert back["state"] == start.pending["state"]

    connection = gravatar.finish_authorization(start.pending, back, CALLBACK)
    alice = gravatar_site.people["alice"]
    assert connection.remote_id == alice.hash == email_hash("alice@example.com")
    assert connection.handle == "alice@example.com"
    assert connection.expires_at is None and connection.refresh_token is None

    with pytest.raises(ConnectFailed, match="refused the sign-in"):  # a code works once
        gravatar.finish_authorization(start.pending, back, CALLBACK)


def test_a_wrong_client_secret_is_refused(app, gravatar_site):
    app.config["GRAVATAR_CLIENT_SECRET"] = "not-the-secret"
    gravatar = get("gravatar")
    start = gravatar.start_authorization({}, CALLBACK)
    with pytest.raises(ConnectFailed, match="refused the sign-in: Unknown client or bad secret"):
        gravatar.finish_authorization(start.pending, authorize(start.url), CALLBACK)


def test_a_different_redirect_uri_is_refused(gravatar_site):
    gravatar = get("gravatar")
    start = gravatar.start_authorization({}, CALLBACK)
    back = authorize(start.url)
    with pytest.raises(ConnectFailed, match="redirect_uri does not match"):
        gravatar.finish_authorization(start.pending, back, CALLBACK + "?x=1")


def test_a_denied_authorization_says_so(gravatar_site):
    gravatar_site.deny = True
    gravatar = get("gravatar")
    start = gravatar.start_authorization({}, CALLBACK)
    with pytest.raises(ConnectFailed, match="did not authorize Linkarooie"):
        gravatar.finish_authorization(start.pending, authorize(start.url), CALLBACK)


def test_an_unconfigured_site_cannot_connect(app):
    before = app.config.get("GRAVATAR_CLIENT_ID")
    app.config["GRAVATAR_CLIENT_ID"] = None
    try:
        assert not get("gravatar").is_configured()
        with pytest.raises(ConnectFailed, match="Gravatar is not configured on this site."):
            get("gravatar").start_authorization({}, CALLBACK)
    finally:
        app.config["GRAVATAR_CLIENT_ID"] = before


def test_a_sync_uploads_the_avatar_and_selects_it_for_the_email(app, gravatar_site, run_jobs):
    pat, account = connect(gravatar_site)
    avatar, _ = ready_images(pat, run_jobs)
    release = releases.start(pat)
    db.session.commit()
    release = settle(run_jobs, release.id)

    assert [(t.slot, t.status) for t in release.tasks] == [("avatar", TaskStatus.SUCCEEDED)]
    expected = variant_bytes(app, avatar, "gravatar_avatar")
    assert gravatar_site.selected_bytes("alice") == expected
    assert [p["sha256"] for p in gravatar_site.pushes] == [
        gravatar_site.log.stored[("alice", "avatar")]
    ]
    public = requests.get(f"{gravatar_site.url}/avatar/{account.remote_id}", timeout=10)
    assert public.content == expected
    assert gravatar_site.patches == []  # a new upload rated G already needs no change


def test_an_upload_rated_other_than_g_is_rated_g(app, gravatar_site, run_jobs):
    """GitHub and most sites show G-rated Gravatars only."""
    gravatar_site.upload_rating = "PG"
    pat, account = connect(gravatar_site)
    ready_images(pat, run_jobs)
    release = releases.start(pat)
    db.session.commit()
    release = settle(run_jobs, release.id)
    assert release.tasks[0].status is TaskStatus.SUCCEEDED
    [(image_id, rating)] = gravatar_site.patches
    assert rating == "G"
    person = gravatar_site.people["alice"]
    assert person.selected[account.remote_id] == image_id and person.ratings[image_id] == "G"


def test_a_refused_token_marks_the_account_for_reconnecting(app, gravatar_site, run_jobs):
    pat, account = connect(gravatar_site)
    ready_images(pat, run_jobs)
    gravatar_site.revoke_all("alice")
    release = releases.start(pat)
    db.session.commit()
    release = settle(run_jobs, release.id)

    assert {t.status for t in release.tasks} == {TaskStatus.NEEDS_RECONNECT}
    account = db.session.get(PlatformAccount, account.id)
    assert account.status is AccountStatus.EXPIRED
    assert account.last_error == "Gravatar refused our access: Invalid or expired token."


def test_a_429_is_retried_at_the_reset_the_headers_give(app, gravatar_site, run_jobs):
    pat, account = connect(gravatar_site)
    ready_images(pat, run_jobs)
    gravatar_site.fail_next(429, reset_in=1.5)  # the upload, not the select call
    release = releases.start(pat)
    db.session.commit()
    started = datetime.now(UTC)
    run_jobs()
    db.session.expire_all()

    task = release.tasks[0]
    assert task.status is TaskStatus.RETRYING and task.rate_limited == 1
    assert task.error == "Gravatar's rate limit was reached."
    wait = (task.next_attempt_at - started).total_seconds()
    assert 0.5 < wait < 3.5  # the reset header (whole seconds), not our own 30 s back-off

    release = settle(run_jobs, release.id)
    assert [(t.status, t.attempts) for t in release.tasks] == [(TaskStatus.SUCCEEDED, 2)]
    assert gravatar_site.selected_bytes("alice") is not None


def test_a_non_square_image_is_refused_before_uploading(app, gravatar_site):

    buffer = BytesIO()
    Image.new("RGB", (40, 30)).save(buffer, "PNG")
    _, account = connect(gravatar_site)
    with pytest.raises(Permanent, match="only takes square images; this one is 40×30"):
        get("gravatar").push(account, "avatar", buffer.getvalue(), "image/png")
    assert gravatar_site.pushes == []
