"""A person's sync preferences: the accounts "sync everywhere" goes to, which slots each account
takes, whether making an image current syncs it at once, and how often the drift watch looks at
the platforms (app/services/sync/drift.py). Never commits."""

from __future__ import annotations

from dataclasses import dataclass

from app.extensions import db
from app.models import PlatformAccount, SyncPreferences, User
from app.services.exceptions import DomainError
from app.services.platforms import REGISTRY, connections
from app.services.platforms.base import PROFILE_SLOT

DRIFT_FREQUENCIES = ("off", "daily", "hourly")


class InvalidPreferences(DomainError):
    status = 422
    code = "invalid_preferences"


@dataclass(frozen=True)
class Choices:
    """What the settings page submits: the whole desired state."""

    default_account_ids: list[int]
    # Account id → the slots it should take; accounts left out keep what they had.
    slots_on: dict[int, list[str]]
    auto_sync: bool
    # off / daily / hourly; None keeps what was saved.
    drift_watch: str | None = None


def of(user: User) -> SyncPreferences:
    """The person's preferences; someone who never saved any gets the defaults (not stored)."""
    found = db.session.get(SyncPreferences, user.id)
    return found or SyncPreferences(
        user_id=user.id, default_account_ids=None, auto_sync=False, drift_watch="off"
    )


def slots_of(account: PlatformAccount) -> list[str]:
    """The slots the account's platform takes, in the platform's order."""
    platform = REGISTRY.get(account.platform)
    if platform is None:
        return []
    slots = list(platform.capabilities.slots)
    if platform.capabilities.pushes_text and not platform.is_manual:
        slots.append(PROFILE_SLOT)
    return slots


def targets(user: User) -> list[PlatformAccount]:
    """Where a sync without chosen accounts goes: the chosen defaults that can still be synced
    to, or every usable account when none are chosen (or none of them is usable any more)."""
    usable = connections.connected_accounts(user)
    chosen = of(user).default_account_ids
    if chosen is None:
        return usable
    return [a for a in usable if a.id in set(chosen)] or usable


def is_default(preferences: SyncPreferences, account: PlatformAccount) -> bool:
    ids = preferences.default_account_ids
    return ids is None or account.id in ids


def update(user: User, choices: Choices) -> SyncPreferences:
    """Validate everything first, then change it all: a bad field leaves every setting as it was."""
    accounts = {a.id: a for a in connections.accounts_of(user)}
    for account_id in [*choices.default_account_ids, *choices.slots_on]:
        if account_id not in accounts:
            raise InvalidPreferences(f"You have no connected account {account_id}.")
    defaults = list(dict.fromkeys(choices.default_account_ids))
    if accounts and not defaults:
        raise InvalidPreferences(
            'Choose at least one account for "Sync everywhere" to send your pictures to.'
        )
    if choices.drift_watch is not None and choices.drift_watch not in DRIFT_FREQUENCIES:
        raise InvalidPreferences(
            "Choose how often to watch for changed pictures: off, daily or hourly."
        )
    slots_off: dict[int, list[str]] = {}
    for account_id, wanted in choices.slots_on.items():
        account = accounts[account_id]
        takes = slots_of(account)
        if unknown := [slot for slot in wanted if slot not in takes]:
            raise InvalidPreferences(
                f"{account.handle} has no {unknown[0]} to set; it takes {_listed(takes)}."
            )
        slots_off[account_id] = [slot for slot in takes if slot not in wanted]

    preferences = db.session.get(SyncPreferences, user.id)
    if preferences is None:
        preferences = SyncPreferences(user_id=user.id)
        db.session.add(preferences)
    # Every account ticked means "everywhere", so accounts connected later join too.
    preferences.default_account_ids = None if set(defaults) == set(accounts) else defaults
    preferences.auto_sync = choices.auto_sync
    if choices.drift_watch is not None:
        preferences.drift_watch = choices.drift_watch
    for account_id, off in slots_off.items():
        accounts[account_id].slots_off = off
    db.session.flush()
    return preferences


def _listed(slots: list[str]) -> str:
    return " and ".join(slots) if slots else "nothing"
