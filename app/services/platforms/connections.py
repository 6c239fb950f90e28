"""A person's connected accounts: saving what a connect flow yields, listing, disconnecting."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.jobs import enqueue_on_commit
from app.models import AccountStatus, PlatformAccount, User
from app.services.accounts import audit
from app.services.platforms import REGISTRY, get
from app.services.platforms.base import Connection


def accounts_of(user: User, *, include_revoked: bool = False) -> list[PlatformAccount]:
    query = PlatformAccount.owned_by(user.id)
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
    account.status = AccountStatus.EXPIRED
    account.last_error = reason


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
