"""How each account is doing, on /connections and in GET /api/v1/accounts: its state, when its
access ends (or that it renews by itself, or never ends), its last push and its last problem.

The expired account got that way for real: the token round met a revoked app password at the
loopback PDS."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AccountSlot, AccountStatus, PlatformAccount
from app.services.platforms.health import refresh_due
from tests.peers.bluesky_fake import FakeBluesky
from tests.sync_rows import make_account
from tests.web.test_api_images import bearer

ALICE, BOB = ("alice.test", "abcd-efgh-ijkl-mnop"), ("bob.test", "qrst-uvwx-yzab-cdef")


@pytest.fixture
def fake() -> Iterator[FakeBluesky]:
    server = FakeBluesky()
    for handle, password in (ALICE, BOB):
        server.add_account(handle, password)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def accounts(client, pat, fake) -> dict[str, PlatformAccount]:
    """alice (Bluesky, renews by itself, pushed to), bob (Bluesky, his app password revoked and
    marked expired by the token round), a Mastodon token that ends in three days with a problem
    last time, and an X account whose access never ends."""
    for handle, password in (ALICE, BOB):
        answer = client.post(
            "/connections/bluesky",
            data={"handle": handle, "app_password": password, "service_url": fake.url},
        )
        assert answer.status_code == 303, answer.get_data(as_text=True)
    fake.revoke_app_password(BOB[0])
    fake.advance(6900)
    refresh_due(datetime.now(UTC) + timedelta(seconds=6900), timedelta(seconds=900))

    by_handle = {a.handle: a for a in db.session.scalars(select(PlatformAccount))}
    alice, bob = by_handle["@alice.test"], by_handle["@bob.test"]
    assert (alice.status, bob.status) == (AccountStatus.CONNECTED, AccountStatus.EXPIRED)
    now = datetime.now(UTC)
    for slot, ago in (("avatar", timedelta(hours=2, minutes=5)), ("banner", timedelta(days=3))):
        db.session.add(
            AccountSlot(account_id=alice.id, slot=slot, sha256="0" * 64, pushed_at=now - ago)
        )
    masto = make_account(pat, last_error="Mastodon answered 503; will try again.")
    masto.expires_at = now + timedelta(days=3, hours=1)
    x = make_account(pat, platform="x", handle="@pat_pics", instance_url="")
    db.session.commit()
    return {"alice": alice, "bob": bob, "masto": masto, "x": x}


def row(page: str, account: PlatformAccount) -> str:
    start = page.index(f'id="account-{account.id}"')
    end = page.find('<li class="account-row', start)
    return page[start : end if end != -1 else len(page)]


def squash(html: str) -> str:
    return re.sub(r"\s+", " ", html)


def test_each_account_says_how_it_is_doing(client, accounts):
    page = client.get("/connections").get_data(as_text=True)
    alice, bob, masto, x = (squash(row(page, accounts[k])) for k in ("alice", "bob", "masto", "x"))

    # expired: one clear way back, with the reason, and nowhere else
    assert "Needs reconnecting" in bob and "no longer accepts this app password" in bob
    assert bob.count('class="dropdown reconnect-menu"') == 1
    assert page.count("reconnect-menu") == 1 and page.count("Needs reconnecting") == 1
    # renews by itself, and says when
    renews_at = accounts["alice"].expires_at - timedelta(seconds=900)
    assert "Access renews automatically, next" in alice
    assert f'<time datetime="{renews_at.isoformat()}"' in alice
    hours = int((renews_at - datetime.now(UTC)).total_seconds() // 3600)
    assert f">in about {hours} hours<" in alice or f">in about {hours - 1} hours<" in alice
    # the newest of its pushes, relative
    assert re.search(
        r"Last pushed <time datetime=\"[^\"]+\"[^>]*data-countdown[^>]*>2 hours ago<", alice
    )
    # a token that ends: a countdown the page's script keeps ticking
    expires = accounts["masto"].expires_at.isoformat()
    assert re.search(
        rf'<time datetime="{re.escape(expires)}"[^>]*>Access expires in 3 days<', masto
    )
    assert "Last problem: Mastodon answered 503; will try again." in masto
    assert "Nothing pushed yet" in masto
    assert "Access never expires" in x and "Last problem" not in x
    assert "Connected" in alice and "Connected" in masto and "Connected" in x
    assert 'src="/static/js/countdown.js"' in page


def test_the_api_lists_expiry_last_push_and_last_error(client, pat, accounts):
    answer = client.get("/api/v1/accounts", headers=bearer(pat))
    assert answer.status_code == 200
    listed = {item["handle"]: item for item in answer.json}
    alice = listed["@alice.test"]
    assert set(alice) == {
        "id", "platform", "handle", "status", "expires_at", "last_pushed_at", "last_error", "drift"
    }  # fmt: skip
    assert (alice["id"], alice["platform"], alice["status"]) == (
        accounts["alice"].id,
        "bluesky",
        "connected",
    )
    assert datetime.fromisoformat(alice["expires_at"]) == accounts["alice"].expires_at
    pushed = datetime.fromisoformat(alice["last_pushed_at"])
    assert timedelta(hours=2) < datetime.now(UTC) - pushed < timedelta(hours=2, minutes=10)
    assert alice["last_error"] is None
    bob = listed["@bob.test"]
    assert bob["status"] == "expired" and "app password" in bob["last_error"]
    assert bob["last_pushed_at"] is None
    assert listed["@pat_pics"]["expires_at"] is None
    assert listed["@alice@masto.example"]["last_error"] == "Mastodon answered 503; will try again."
