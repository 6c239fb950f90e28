"""What the connection rows need from Python: each account's health and its moments in words.

Template helpers rather than view code, so every page that lists accounts shows the same thing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from app.blueprints.connections import bp
from app.models import PlatformAccount
from app.services.platforms import health
from app.services.platforms.health import AccountHealth
from app.services.sync import drift
from app.services.sync.drift import SlotDrift

UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"))


@bp.app_template_global("account_health")
def account_health(account: PlatformAccount) -> AccountHealth:
    return health.health_of(account)


def span(seconds: float) -> str:
    """ "3 days", "1 hour", "less than a minute": whole units, rounded down (static/js/countdown.js
    says the same between page loads)."""
    size = abs(int(seconds))
    for length, unit in UNITS:
        if size >= length:
            count = size // length
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return "less than a minute"


@bp.app_template_filter("countdown")
def countdown(moment: datetime, future: str, past: str) -> str:
    """`future` or `past` (each with a {} for the span) as `moment` is ahead or behind now."""
    seconds = (moment - datetime.now(UTC)).total_seconds()
    return (future if seconds > 0 else past).replace("{}", span(seconds))


@bp.app_template_global("drift_states")
def drift_states(account: PlatformAccount) -> list[SlotDrift]:
    return drift.states(account)
