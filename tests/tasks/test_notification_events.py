"""Where events come from: a connection that broke is told once; one that ends within 7 days
with nothing to renew it is told once per expiry date; a release finished by its last manual
step is told once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.extensions import db
from app.services.notifications import events
from app.services.platforms import connections
from app.services.platforms.health import refresh_due, warn_expiring
from app.tasks.sync import warn_expiring_connections
from tests.images import add_user
from tests.sync_rows import make_account


def _types(user_id: int) -> list[str]:
    return [e.type for e in reversed(events.latest(user_id))]


def test_a_connection_that_ran_out_is_told_once(app):
    pat = add_user("pat@example.com")
    now = datetime.now(UTC)
    account = make_account(pat, handle="@old@masto.example")
    account.expires_at = now - timedelta(minutes=1)
    db.session.commit()

    refresh_due(now, timedelta(minutes=15))
    connections.mark_expired(account, "again")  # a later push finds it broken too
    db.session.commit()
    (event,) = events.latest(pat.id)
    assert event.type == "connection.expired"
    assert event.data["handle"] == "@old@masto.example" and event.data["account_id"] == account.id


def test_a_connection_ending_soon_is_told_once_per_expiry(app, run_jobs):
    pat = add_user("pat@example.com")
    pat_id = pat.id
    now = datetime.now(UTC)
    soon = make_account(pat, handle="@soon@masto.example")
    later = make_account(pat, handle="@later@masto.example")
    renews = make_account(pat, handle="@renews@masto.example")
    soon.expires_at = now + timedelta(days=3)
    later.expires_at = now + timedelta(days=30)
    renews.expires_at = now + timedelta(days=2)
    renews.refresh_token = "can-renew"  # the token round renews it: nothing to tell
    db.session.commit()

    assert warn_expiring(now) == 1
    db.session.commit()
    assert warn_expiring(now + timedelta(hours=6)) == 0  # the next round: already told
    db.session.commit()
    (event,) = events.latest(pat.id)
    assert event.type == "connection.expiring" and event.data["handle"] == "@soon@masto.example"

    soon.expires_at = now + timedelta(days=5)  # reconnected: a new expiry, a new warning
    db.session.commit()
    assert warn_expiring_connections() == 1  # the periodic job (its own session, commits)
    assert _types(pat_id) == ["connection.expiring", "connection.expiring"]
