"""Reach: the daily round reads each connected account's follower count from the platform
(loopback Mastodon and X, the real PDS for Bluesky) and keeps one reading per account per day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.jobs import enqueue
from app.jobs.periodic import SCHEDULE
from app.models import AccountStatus, PlatformAccount
from app.models.analytics import FollowerCount
from app.services.analytics import reach
from app.services.platforms import connections, get
from tests.images import add_user
from tests.services.test_x_adapter import configure, connect_x
from tests.sync_support import connect_mastodon


def readings() -> dict[int, list[tuple[str, int]]]:
    db.session.expire_all()
    found: dict[int, list[tuple[str, int]]] = {}
    for row in db.session.scalars(select(FollowerCount).order_by(FollowerCount.day)):
        found.setdefault(row.account_id, []).append((row.day.isoformat(), row.count))
    return found


def reach_round(run_jobs) -> None:
    enqueue("record_reach")
    run_jobs()


@pytest.fixture
def pat(app):
    return add_user("pat@example.com")


def test_mastodon_and_x_counts_are_kept_once_a_day(app, pat, fake_mastodon, fake_x, run_jobs):
    with configure(
        app,
        X_CLIENT_ID=fake_x.consumer_key,
        X_CLIENT_SECRET=fake_x.consumer_secret,
        X_API_BASE_URL=fake_x.url,
        X_AUTH_BASE_URL=fake_x.url,
    ):
        both_platforms(fake_mastodon, fake_x, pat, run_jobs)


def both_platforms(fake_mastodon, x_app, pat, run_jobs):
    assert SCHEDULE["record_reach"] == "REACH_INTERVAL"
    fake_mastodon.accounts["alice"].followers = 1234
    x_app.users["alice"].followers = 56
    mastodon = connect_mastodon(pat, fake_mastodon)
    x = connect_x(pat, x_app)
    manual = connections.save(pat, "instagram", get("instagram").connect({"handle": "patq"}))
    db.session.commit()
    today = datetime.now(UTC).date().isoformat()

    reach_round(run_jobs)
    assert readings() == {mastodon.id: [(today, 1234)], x.id: [(today, 56)]}
    assert manual.id not in readings()  # a platform with no count is not read, nor shown

    # Another round the same day: nothing read again, nothing added.
    calls = len(fake_mastodon.requests)
    fake_mastodon.accounts["alice"].followers = 1300
    reach_round(run_jobs)
    assert readings() == {mastodon.id: [(today, 1234)], x.id: [(today, 56)]}
    assert len(fake_mastodon.requests) == calls

    # The next day's round adds the next point of the series.
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert reach.record_round(now=tomorrow) == {"recorded": 2, "unknown": 0, "busy": 0, "failed": 0}
    assert readings()[mastodon.id] == [(today, 1234), (tomorrow.date().isoformat(), 1300)]


def test_an_account_the_platform_refuses_is_tried_again_later(app, pat, fake_mastodon, run_jobs):
    account = connect_mastodon(pat, fake_mastodon)
    fake_mastodon.fail_next(503, path="verify_credentials")
    reach_round(run_jobs)
    assert readings() == {}
    fake_mastodon.accounts["alice"].followers = 7
    reach_round(run_jobs)
    assert readings() == {account.id: [(datetime.now(UTC).date().isoformat(), 7)]}


def test_disconnected_accounts_are_not_read(app, pat, fake_mastodon, run_jobs):
    account = connect_mastodon(pat, fake_mastodon)
    account.status = AccountStatus.EXPIRED
    db.session.commit()
    reach_round(run_jobs)
    assert readings() == {}


def test_bluesky_through_the_real_pds(app, pat, pds, run_jobs):
    bob = pds.create_account("bob")
    form = {"handle": bob.handle, "app_password": bob.app_password, "service_url": pds.url}
    account = connections.save(pat, "bluesky", get("bluesky").connect(form))
    db.session.commit()
    # followersCount comes from the AppView, which a PDS reaches by proxying getProfile; the
    # test PDS runs without one (as a PDS may), so there is nothing to record, and the round
    # leaves the account as it was.
    assert "bluesky" in reach.counted_platforms()
    counts = reach.record_round()
    assert counts["recorded"] == 0 and counts["failed"] + counts["unknown"] == 1
    assert readings() == {}
    db.session.expire_all()
    assert db.session.get(PlatformAccount, account.id).status is AccountStatus.CONNECTED
