"""Sync jobs: push one (account, slot), give a disconnected account's token back, renew tokens
before they run out (periodic), and watch for pictures changed on the platforms (periodic)."""

import logging
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.infra import row_security
from app.jobs import SYNC, job
from app.models import PlatformAccount, SyncTask

log = logging.getLogger(__name__)


@job(SYNC)
def run_sync_task(task_id: int) -> str | None:
    from app.services.sync import engine

    owner_id = db.session.scalar(select(SyncTask.user_id).where(SyncTask.id == task_id))
    if owner_id is not None:
        row_security.only(owner_id)  # the push is one person's work
    status = engine.run(task_id)
    return status.value if status else None


@job(SYNC)
def revoke_platform_account(account_id: int) -> None:
    from app.services.platforms import connections

    account = db.session.get(PlatformAccount, account_id)
    if account is None or account.is_connected:
        return  # gone, or connected again since: nothing to give back
    try:
        connections.forget_credentials(account)
    except Exception as exc:  # the platform may be down; we forget the token all the same
        log.warning("revoking account %s at %s failed: %s", account.id, account.platform, exc)
    db.session.commit()


@job(SYNC)
def warn_expiring_connections() -> int:
    """Periodic: tell people a connection ends within 7 days (once per account and expiry)."""
    from app.services.platforms import health

    told = health.warn_expiring(datetime.now(UTC))
    db.session.commit()
    return told


@job(SYNC)
def refresh_platform_tokens() -> dict[str, int]:
    from app.services.platforms import health

    ahead = timedelta(seconds=current_app.config["TOKEN_REFRESH_AHEAD"])
    counts = health.refresh_due(datetime.now(UTC), ahead)
    if any(counts.values()):
        log.info("token refresh round: %s", counts, extra={"event": "token_refresh", **counts})
    return counts


@job(SYNC)
def watch_drift() -> dict[str, int]:
    from app.services.sync import drift

    counts = drift.watch_due()
    if any(counts.values()):
        log.info("drift watch round: %s", counts, extra={"event": "drift_watch", **counts})
    return counts
