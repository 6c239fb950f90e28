"""How each connected account is doing, and the periodic round that renews tokens before they
run out.

`refresh_due` is the body of the `refresh_platform_tokens` job. An account whose token nears its
end is renewed if its platform can do that without the person (`Adapter.refreshable`); one whose
platform refuses is marked expired, which takes it out of every later round, so the person is
asked to reconnect once and the platform is not asked again and again. An account that cannot be
renewed is marked expired only once its token has actually run out.

`health_of` is what the connections page and the API show per account.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import AccountStatus, Event, PlatformAccount, User
from app.services.accounts import audit
from app.services.platforms import REGISTRY, connections
from app.services.platforms.base import ReconnectNeeded, RetryLater

log = logging.getLogger(__name__)

EXPIRED_EVENT = "platform_expired"


def refresh_due(now: datetime, ahead: timedelta) -> dict[str, int]:
    """Renew every connected account whose token ends before `now + ahead`; commits per account.

    Returns how many were refreshed, marked expired, and failed for now (tried next round).
    """
    counts = {"refreshed": 0, "expired": 0, "failed": 0}
    due = list(
        db.session.scalars(
            select(PlatformAccount.id)
            .where(
                PlatformAccount.status == AccountStatus.CONNECTED,
                PlatformAccount.expires_at.is_not(None),
                PlatformAccount.expires_at <= now + ahead,
            )
            .order_by(PlatformAccount.expires_at)
        )
    )
    db.session.commit()
    for account_id in due:
        outcome = _refresh_one(account_id, now, ahead)
        if outcome:
            counts[outcome] += 1
    return counts


def _refresh_one(account_id: int, now: datetime, ahead: timedelta) -> str | None:
    account = db.session.get(PlatformAccount, account_id)
    adapter = REGISTRY.get(account.platform) if account else None
    if account is None or adapter is None or not _still_due(account, now, ahead):
        db.session.rollback()
        return None
    if not adapter.refreshable:
        if account.expires_at > now:
            db.session.rollback()
            return None  # still usable; it is marked once it has run out
        _expire(account, f"Your {adapter.label} access expired; reconnect to keep syncing.")
        db.session.commit()
        return "expired"
    # A refresh token is often good for one use only: the refresh takes the account's turn like
    # a push does, so it never races a push that is renewing the same token.
    holder = -(secrets.randbelow(2**31 - 2) + 1)
    if not connections.take_turn(account.id, holder, now):
        db.session.rollback()
        return None  # a push holds it (and renews the token itself if it must); next round
    db.session.commit()
    try:
        # Re-read after taking the turn: a push that just finished may have renewed it already.
        account = db.session.get(PlatformAccount, account_id)
        if account is None or not _still_due(account, now, ahead):
            return None
        adapter.refresh(account)
        account.last_error = None
        return "refreshed"
    except ReconnectNeeded as failure:
        _expire(account, failure.message)
        return "expired"
    except RetryLater as failure:
        account.last_error = failure.message
        return "failed"
    except Exception:
        log.exception("refreshing account %s (%s) crashed", account_id, account.platform)
        db.session.rollback()
        account = db.session.get(PlatformAccount, account_id)
        if account is not None:
            account.last_error = "Renewing access failed on our side; will try again."
        return "failed"
    finally:
        connections.end_turn(account_id, holder)
        db.session.commit()


def _still_due(account: PlatformAccount, now: datetime, ahead: timedelta) -> bool:
    return (
        account.is_connected
        and account.expires_at is not None
        and account.expires_at <= now + ahead
    )


def _expire(account: PlatformAccount, reason: str) -> None:
    connections.mark_expired(account, reason)
    audit.record(
        EXPIRED_EVENT,
        db.session.get(User, account.user_id),
        platform=account.platform,
        account_id=account.id,
        reason=reason,
    )


# What the pages show


@dataclass(frozen=True)
class AccountHealth:
    state: str  # connected | expired | error | disconnected | manual
    problem: str | None  # why it is not connected, or what went wrong last while it is
    # connected accounts' token: "never" (no end), "renews" (renewed by the refresh job before
    # `renews_at`), "expires" (the person must reconnect after `expires_at`)
    token: str | None
    expires_at: datetime | None
    renews_at: datetime | None
    last_pushed_at: datetime | None

    @property
    def needs_reconnect(self) -> bool:
        return self.state in ("expired", "error")


STATES = {
    AccountStatus.CONNECTED: "connected",
    AccountStatus.EXPIRED: "expired",
    AccountStatus.ERROR: "error",
    AccountStatus.REVOKED: "disconnected",
    AccountStatus.MANUAL: "manual",
}


def health_of(account: PlatformAccount) -> AccountHealth:
    """Reads `account.slots`: load them with the accounts (connections.accounts_of does)."""
    adapter = REGISTRY.get(account.platform)
    state = STATES[account.status]
    token = renews_at = None
    if state == "connected":
        if account.expires_at is None:
            token = "never"
        elif adapter is not None and adapter.refreshable:
            token = "renews"
            ahead = timedelta(seconds=current_app.config["TOKEN_REFRESH_AHEAD"])
            renews_at = account.expires_at - ahead
        else:
            token = "expires"
    pushed = [slot.pushed_at for slot in account.slots if slot.pushed_at is not None]
    return AccountHealth(
        state=state,
        problem=account.last_error or None,
        token=token,
        expires_at=account.expires_at,
        renews_at=renews_at,
        last_pushed_at=max(pushed) if pushed else None,
    )


# Warning before a connection ends

EXPIRY_WARNING = timedelta(days=7)


def warn_expiring(now: datetime) -> int:
    """Tell each person whose connection ends within 7 days with nothing to renew it (no refresh
    token: they must reconnect). Once per account and expiry date, however many rounds see it;
    a reconnection brings a new date, hence a new warning when that one nears. The caller
    commits."""
    from app.services.notifications import events

    accounts = db.session.scalars(
        select(PlatformAccount).where(
            PlatformAccount.status == AccountStatus.CONNECTED,
            PlatformAccount.refresh_token.is_(None),
            PlatformAccount.expires_at.is_not(None),
            PlatformAccount.expires_at > now,
            PlatformAccount.expires_at <= now + EXPIRY_WARNING,
        )
    ).all()
    told = 0
    for account in accounts:
        expires = account.expires_at.isoformat()
        earlier = db.session.scalars(
            select(Event.data).where(
                Event.user_id == account.user_id, Event.type == "connection.expiring"
            )
        )
        if any(
            d.get("account_id") == account.id and d.get("expires_at") == expires for d in earlier
        ):
            continue
        events.emit(
            account.user_id,
            "connection.expiring",
            account_id=account.id,
            platform=account.platform,
            handle=account.handle,
            expires_at=expires,
        )
        told += 1
    return told
