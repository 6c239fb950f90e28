"""A person's connected accounts: saving what a connect flow yields, listing, disconnecting."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.jobs import enqueue_on_commit
from app.models import AccountStatus, PlatformAccount, User
from app.services.accounts import audit
from app.services.platforms import REGISTRY, get
from app.services.platforms.base import Connection


def accounts_of(user: User, *, include_revoked: bool = False) -> list[PlatformAccount]:
    # Slots come along in one more query: the pages and the API show each one's last push.
    query = PlatformAccount.owned_by(user.id).options(selectinload(PlatformAccount.slots))
    if not include_revoked:
        query = query.where(PlatformAccount.status != AccountStatus.REVOKED)
    return list(db.session.scalars(query))


def connected_accounts(user: User) -> list[PlatformAccount]:
    """The accounts a sync can go to: connected ones and the manual platforms' accounts."""
    return [a for a in accounts_of(user) if a.is_usable and a.platform in REGISTRY]


def save(user: User, platform: str, connection: Connection, *, ip: str | None = None):
    """Store a freshly connected account; reconnecting the same remote account updates its row."""
    manual = get(platform).is_manual
    account = db.session.scalar(
        select(PlatformAccount).filter_by(
            user_id=user.id,
            platform=platform,
            instance_url=connection.instance_url,
            remote_id=connection.remote_id,
        )
    )
    if account is None:
        account = PlatformAccount(
            user_id=user.id,
            platform=platform,
            instance_url=connection.instance_url,
            remote_id=connection.remote_id,
        )
        db.session.add(account)
    account.handle = connection.handle
    account.access_token = connection.access_token
    account.refresh_token = connection.refresh_token
    account.secret = connection.secret
    account.expires_at = connection.expires_at
    account.scopes = connection.scopes
    account.status = AccountStatus.MANUAL if manual else AccountStatus.CONNECTED
    account.last_error = None
    db.session.flush()
    audit.record("platform_connected", user, ip, platform=platform, account_id=account.id)
    return account


def mark_expired(account: PlatformAccount, reason: str) -> None:
    from app.services.notifications import events

    if account.status is not AccountStatus.EXPIRED:  # told once per break, not per attempt
        events.emit(
            account.user_id,
            "connection.expired",
            account_id=account.id,
            platform=account.platform,
            handle=account.handle,
            reason=reason[:300],
        )
    account.status = AccountStatus.EXPIRED
    account.last_error = reason


def take_turn(account_id: int, holder: int, now: datetime) -> bool:
    """Hold the account for one push or token refresh, in one conditional UPDATE (works on both
    databases). `holder` is a sync task's id, or a negative number for a refresh, so the two can
    never be mistaken for each other. The turn frees itself after SYNC_LEASE_SECONDS if its
    worker dies. The caller commits."""
    until = now + timedelta(seconds=current_app.config["SYNC_LEASE_SECONDS"])
    taken = db.session.execute(
        update(PlatformAccount)
        .where(
            PlatformAccount.id == account_id,
            or_(
                PlatformAccount.busy_until.is_(None),
                PlatformAccount.busy_until < now,
                PlatformAccount.busy_task_id == holder,
            ),
        )
        .values(busy_until=until, busy_task_id=holder)
        .execution_options(synchronize_session=False)
    )
    return taken.rowcount == 1


def end_turn(account_id: int, holder: int) -> None:
    """Give the turn back, unless it already ran out and someone else holds it now."""
    db.session.execute(
        update(PlatformAccount)
        .where(PlatformAccount.id == account_id, PlatformAccount.busy_task_id == holder)
        .values(busy_until=None, busy_task_id=None)
        .execution_options(synchronize_session=False)
    )


def disconnect(account: PlatformAccount, *, ip: str | None = None) -> None:
    """Stop using the account now; a job gives the token back to the platform and forgets it.

    The row stays (as revoked) so the history keeps saying where earlier releases went.
    """
    account.status = AccountStatus.REVOKED
    account.last_error = None
    audit.record(
        "platform_disconnected",
        db.session.get(User, account.user_id),
        ip,
        platform=account.platform,
        account_id=account.id,
    )
    enqueue_on_commit("revoke_platform_account", account.id)


def forget_credentials(account: PlatformAccount) -> None:
    """The revoke job's second half: no token or password of a disconnected account stays."""
    try:
        get(account.platform).revoke(account)
    finally:
        account.access_token = account.refresh_token = account.secret = None
        account.expires_at = None
