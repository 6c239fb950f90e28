"""The periodic token round against the loopback Bluesky PDS: tokens near their end are renewed
(one refreshSession each), a refusal marks the account expired once and is not asked again,
network trouble leaves it connected with the reason, and a token that cannot be renewed is
marked expired only once it has run out."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.jobs import enqueue_on_commit
from app.models import AccountStatus, AuditLog, PlatformAccount
from app.services.platforms import connections, get
from app.services.platforms.health import refresh_due
from tests.images import add_user, avatar_jpeg
from tests.peers.bluesky_fake import FakeBluesky
from tests.sync_rows import make_account

PASSWORD = "abcd-efgh-ijkl-mnop"
AHEAD = timedelta(seconds=900)
NOTHING = {"refreshed": 0, "expired": 0, "failed": 0}


@pytest.fixture
def fake() -> Iterator[FakeBluesky]:
    server = FakeBluesky()  # access tokens live two hours, as on the reference PDS
    server.add_account("alice.test", PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pat(app):
    return add_user("pat@example.com")


def connect(pat, fake) -> PlatformAccount:
    form = {"handle": "alice.test", "app_password": PASSWORD, "service_url": fake.url}
    account = connections.save(pat, "bluesky", get("bluesky").connect(form))
    db.session.commit()
    return account


def later(fake: FakeBluesky, seconds: float) -> datetime:
    """Let `seconds` pass, at the PDS and for the round alike."""
    fake.advance(seconds)
    return datetime.now(UTC) + timedelta(seconds=seconds)


def reload(account: PlatformAccount) -> PlatformAccount:
    db.session.expire_all()
    return db.session.get(PlatformAccount, account.id)


def works(fake: FakeBluesky, access_token: str) -> bool:
    answer = requests.post(
        f"{fake.url}/xrpc/com.atproto.repo.uploadBlob",
        headers={"Authorization": f"Bearer {access_token}", "Content-Type": "image/jpeg"},
        data=avatar_jpeg(size=64),
        timeout=5,
    )
    return answer.status_code == 200


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_token_near_its_end_is_renewed_once(app, pat, fake):
    account = connect(pat, fake)
    before = (account.access_token, account.refresh_token, account.expires_at)

    # 1 h 55 min on: the two-hour token ends within the 15 minutes ahead
    now = later(fake, 6900)
    assert refresh_due(now, AHEAD) == {"refreshed": 1, "expired": 0, "failed": 0}

    account = reload(account)
    assert account.status is AccountStatus.CONNECTED and account.last_error is None
    assert account.expires_at > before[2] + timedelta(seconds=6000)
    assert account.access_token != before[0] and account.refresh_token != before[1]
    assert fake.count("refreshSession") == 1 and fake.count("createSession") == 1  # the connect
    assert account.busy_until is None and account.busy_task_id is None  # the turn is given back
    fake.advance(600)  # the old access token has run out by now; the new one has not
    assert not works(fake, before[0]) and works(fake, account.access_token)

    # the next round finds nothing due and asks the PDS nothing
    seen = len(fake.requests)
    assert refresh_due(now, AHEAD) == NOTHING
    assert len(fake.requests) == seen


def test_a_refused_refresh_marks_the_account_expired_once(app, pat, fake):
    account = connect(pat, fake)
    fake.revoke_app_password("alice.test")
    now = later(fake, 6900)

    assert refresh_due(now, AHEAD) == {"refreshed": 0, "expired": 1, "failed": 0}
    account = reload(account)
    assert account.status is AccountStatus.EXPIRED
    assert "no longer accepts this app password" in account.last_error
    assert "reconnect" in account.last_error
    audit = db.session.scalars(select(AuditLog).where(AuditLog.event == "platform_expired")).all()
    assert [(e.user_id, e.details["account_id"]) for e in audit] == [(pat.id, account.id)]

    seen = len(fake.requests)
    assert refresh_due(later(fake, 600), AHEAD) == NOTHING
    assert len(fake.requests) == seen  # not asked again, round after round
    assert db.session.scalar(select(db.func.count(AuditLog.id))) == len(audit) + 1  # + connect


def test_an_unreachable_platform_leaves_the_account_connected_with_the_reason(app, pat, fake):
    account = connect(pat, fake)
    pds = account.instance_url
    account.instance_url = closed_port_url()
    db.session.commit()
    now = later(fake, 6900)

    assert refresh_due(now, AHEAD) == {"refreshed": 0, "expired": 0, "failed": 1}
    account = reload(account)
    assert account.status is AccountStatus.CONNECTED
    assert account.last_error == "The platform could not be reached; will try again."
    assert account.busy_until is None

    account.instance_url = pds  # the network is back: the next round renews it
    db.session.commit()
    assert refresh_due(now, AHEAD)["refreshed"] == 1
    assert reload(account).last_error is None


def test_a_refresh_waits_for_a_push_holding_the_account(app, pat, fake):
    account = connect(pat, fake)
    now = later(fake, 6900)
    account.busy_until = now + timedelta(seconds=60)
    account.busy_task_id = 42  # a push of task 42 is running
    db.session.commit()

    assert refresh_due(now, AHEAD) == NOTHING
    assert fake.count("refreshSession") == 0
    account = reload(account)
    assert (account.busy_task_id, account.status) == (42, AccountStatus.CONNECTED)

    account.busy_until = account.busy_task_id = None  # the push is done
    db.session.commit()
    assert refresh_due(now, AHEAD)["refreshed"] == 1
    assert fake.count("refreshSession") == 1


def test_a_token_that_cannot_be_renewed_is_marked_expired_once_it_has_run_out(app, pat):
    now = datetime.now(UTC)
    ran_out = make_account(pat, handle="@old@masto.example")
    soon = make_account(pat, handle="@soon@masto.example")
    forever = make_account(pat, handle="@forever@masto.example")
    ran_out.expires_at = now - timedelta(minutes=1)
    soon.expires_at = now + timedelta(minutes=10)
    db.session.commit()

    assert refresh_due(now, AHEAD) == {"refreshed": 0, "expired": 1, "failed": 0}
    statuses = {a.handle: (a.status, a.last_error) for a in map(reload, (ran_out, soon, forever))}
    assert statuses["@old@masto.example"] == (
        AccountStatus.EXPIRED,
        "Your Mastodon access expired; reconnect to keep syncing.",
    )
    assert statuses["@soon@masto.example"] == (AccountStatus.CONNECTED, None)
    assert statuses["@forever@masto.example"] == (AccountStatus.CONNECTED, None)
    assert refresh_due(now, AHEAD) == NOTHING


def test_the_job_renews_what_is_due_now(app, pat, run_jobs):
    fake = FakeBluesky(access_ttl=600)  # shorter than TOKEN_REFRESH_AHEAD: due at once
    fake.add_account("alice.test", PASSWORD)
    fake.start()
    try:
        account = connect(pat, fake)
        first = account.access_token
        enqueue_on_commit("refresh_platform_tokens")
        db.session.commit()
        run_jobs()
        account = reload(account)
        assert account.access_token != first and fake.count("refreshSession") == 1
        assert account.status is AccountStatus.CONNECTED
    finally:
        fake.stop()
