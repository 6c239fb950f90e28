"""The drift watch: whether each account still shows the pictures we last pushed there.

At the frequency the person chose (sync preferences: off, daily or hourly), `watch_due` reads
each due account's avatar and banner back from the platform (the adapter's read call and the
file behind it) and compares its perceptual fingerprint with the file we pushed
(app/services/images/fingerprint.py: platforms re-encode and resize, so bytes never match). A
slot that shows another picture is marked "changed", with a thumbnail of theirs kept in our
storage to show beside ours (the page may only show images from our media host). The person
then puts ours back (`repush`) or keeps theirs (`keep_theirs`: the watch stays quiet until the
picture changes again). Platforms without a read call (`Platform.readable`) are never watched:
the pages say so instead of guessing.

A network failure leaves the slot as it was, with the error noted for the next round. Never
commits, except `watch_due`, which commits per account.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests
from sqlalchemy import or_, select

from app.extensions import db
from app.infra.http import PlatformHttp, UnsafeUrl
from app.models import (
    AccountSlot,
    AccountStatus,
    Image,
    PlatformAccount,
    SyncPreferences,
    SyncRequest,
    SyncTask,
    TaskStatus,
    User,
)
from app.services.exceptions import Conflict, DomainError
from app.services.images import fingerprint
from app.services.images.keys import owner_key
from app.services.images.library import storage
from app.services.platforms import REGISTRY, connections
from app.services.platforms.base import PushFailure, Slot

log = logging.getLogger(__name__)

FREQUENCIES = {"off": None, "daily": timedelta(days=1), "hourly": timedelta(hours=1)}
# A profile picture is a few MB at most; anything bigger is not one.
MAX_DOWNLOAD = 20 * 1024 * 1024
LIVE_PREFIX = "drift/"
PICTURES = (Slot.AVATAR.value, Slot.BANNER.value)  # what the watch compares
# Accounts one round reads at most: a round stays well inside its interval however many are due.
ROUND_LIMIT = 200

UNCHANGED, CHANGED, KEPT = "unchanged", "changed", "kept"
# Shown, never stored: not read yet (or nothing of ours to compare), and platforms we cannot read.
UNREAD, UNREADABLE = "unread", "unreadable"


class DriftError(DomainError):
    status = 409
    code = "drift"


@dataclass(frozen=True)
class SlotDrift:
    """What the pages and the API show for one slot."""

    slot: str
    status: str
    checked_at: datetime | None = None
    error: str | None = None
    ours_key: str | None = None  # the file we pushed, in our storage
    live_key: str | None = None  # a thumbnail of what the platform shows


def utcnow() -> datetime:
    return datetime.now(UTC)


def readable(account: PlatformAccount) -> bool:
    platform = REGISTRY.get(account.platform)
    return bool(platform and platform.readable)


def frequency_of(user_id: int) -> str:
    preferences = db.session.get(SyncPreferences, user_id)
    return preferences.drift_watch if preferences else "off"


def states(account: PlatformAccount) -> list[SlotDrift]:
    """Each slot we pushed to, as the watch last saw it."""
    if not readable(account):
        return [SlotDrift(slot, UNREADABLE) for slot in _slot_names(account)]
    found = []
    for row in sorted(account.slots, key=lambda s: s.slot):
        if not _watched(account, row):
            continue
        current = row.drift_for == row.sha256 and row.drift_status is not None
        status = row.drift_status if current else UNREAD
        changed = status == CHANGED
        found.append(
            SlotDrift(
                row.slot,
                status,
                checked_at=row.drift_checked_at if current else None,
                error=row.drift_error,
                ours_key=_ours_key(account, row) if changed else None,
                live_key=row.live_key if changed else None,
            )
        )
    return found


def check(account: PlatformAccount) -> list[SlotDrift]:
    """Read every slot we pushed to back from the platform and record what it shows."""
    if not readable(account):
        return states(account)
    adapter = REGISTRY[account.platform]
    now = utcnow()
    for row in account.slots:
        if not _watched(account, row):
            continue
        try:
            ours = _ours_file(account, row)
            if ours is None:
                continue  # the picture we pushed is gone from our library: nothing to compare
            url = adapter.current_image_url(account, row.slot)
            live = _download(url) if url else None
            ours_print = fingerprint.fingerprint(ours)
            live_print = fingerprint.fingerprint(live) if live is not None else None
        except (PushFailure, UnsafeUrl, DomainError) as exc:
            row.drift_error = getattr(exc, "message", None) or str(exc)
            continue
        except requests.RequestException:
            row.drift_error = f"{adapter.label} could not be reached; will look again."
            continue
        _record(account, row, ours_print, live, live_print, now)
    account.drift_checked_at = now
    db.session.flush()
    return states(account)


def _record(
    account: PlatformAccount,
    row: AccountSlot,
    ours_print: str,
    live: bytes | None,
    live_print: str | None,
    now: datetime,
) -> None:
    was_changed = row.drift_status == CHANGED and row.drift_for == row.sha256
    was_print = row.live_fingerprint
    row.drift_error = None
    row.drift_checked_at = now
    row.drift_for = row.sha256
    if fingerprint.same_picture(ours_print, live_print):
        status = UNCHANGED
    elif row.accepted_for == row.sha256 and (
        fingerprint.same_picture(row.accepted_fingerprint, live_print)
        # they kept having no picture at all
        or (row.accepted_fingerprint is None and live_print is None)
    ):
        status = KEPT
    else:
        status = CHANGED
    if (
        status == CHANGED
        and live is not None
        and (live_print != row.live_fingerprint or not row.live_key)
    ):
        thumb = fingerprint.thumbnail(live)
        key = owner_key(LIVE_PREFIX, account.user_id, hashlib.sha256(thumb).hexdigest(), "jpg")
        storage().put(key, thumb, "image/jpeg")
        row.live_key = key
    elif status != CHANGED or live is None:
        _drop_live(row)
    if status == CHANGED and not (was_changed and was_print == live_print):
        _tell_changed(account, row)  # once per change, not on every later check that sees it
    row.live_fingerprint = live_print
    row.drift_status = status


def repush(user: User, account: PlatformAccount, slot: str) -> SyncRequest:
    """Put our picture back: a release of the image we last pushed, to this one slot."""
    row = _changed_slot(account, slot)
    task = _ours_task(account, row)
    image_id = task.image_id if task else None
    if image_id is None or db.session.get(Image, image_id) is None:
        raise DriftError(
            "The picture Linkarooie last pushed there has been deleted; sync another one instead."
        )
    from app.services.sync import releases

    # Forgotten, or the engine would see the same bytes and skip the push.
    row.sha256 = ""
    _clear(row)
    images = {"avatar_id": image_id} if slot == "avatar" else {"banner_id": image_id}
    return releases.start(user, account_ids=[account.id], use_current=False, **images)


def keep_theirs(account: PlatformAccount, slot: str) -> None:
    """Accept the platform's picture over our last push: quiet until it changes again."""
    row = _changed_slot(account, slot)
    row.accepted_fingerprint = row.live_fingerprint
    row.accepted_for = row.sha256
    row.drift_status = KEPT
    _drop_live(row)
    db.session.flush()


def watch_due(now: datetime | None = None, limit: int = ROUND_LIMIT) -> dict[str, int]:
    """One round of the periodic job: check the accounts whose owner's frequency makes them due,
    longest unchecked first, at most `limit` of them (the rest are due again next round). An
    account busy with a push or a token refresh waits for the next round."""
    now = now or utcnow()
    readable_keys = [key for key, platform in REGISTRY.items() if platform.readable]
    due: list[tuple[int, datetime | None]] = []
    for frequency, every in FREQUENCIES.items():
        if every is None:
            continue
        due += [
            (account_id, checked_at)
            for account_id, checked_at in db.session.execute(
                select(PlatformAccount.id, PlatformAccount.drift_checked_at)
                .join(SyncPreferences, SyncPreferences.user_id == PlatformAccount.user_id)
                .where(
                    SyncPreferences.drift_watch == frequency,
                    PlatformAccount.status == AccountStatus.CONNECTED,
                    PlatformAccount.platform.in_(readable_keys),
                    or_(
                        PlatformAccount.drift_checked_at.is_(None),
                        PlatformAccount.drift_checked_at <= now - every,
                    ),
                )
            )
        ]
    db.session.commit()
    due.sort(key=lambda row: (row[1] is not None, row[1] or now, row[0]))
    counts = {"checked": 0, "changed": 0, "busy": 0}
    for account_id, _ in due[:limit]:
        outcome = _watch_one(account_id, now)
        counts[outcome] += 1
    return counts


def check_now(account: PlatformAccount) -> list[SlotDrift]:
    """The person's "Check now": the same read, taking the account's turn like the job does."""
    if not readable(account):
        return states(account)
    holder = _holder()
    if not connections.take_turn(account.id, holder, utcnow()):
        raise DriftError("A sync to this account is running; check again once it is done.")
    try:
        return check(account)
    finally:
        connections.end_turn(account.id, holder)


def _watch_one(account_id: int, now: datetime) -> str:
    holder = _holder()
    if not connections.take_turn(account_id, holder, now):
        db.session.rollback()
        return "busy"
    db.session.commit()
    try:
        account = db.session.get(PlatformAccount, account_id)
        results = check(account) if account is not None else []
        db.session.commit()
    except Exception:
        log.exception("drift check of account %s failed", account_id)
        db.session.rollback()
        results = []
    finally:
        connections.end_turn(account_id, holder)
        db.session.commit()
    return "changed" if any(r.status == CHANGED for r in results) else "checked"


def _holder() -> int:
    # Negative like a token refresh's: never mistaken for a sync task's id.
    return -(secrets.randbelow(2**31 - 2) + 1)


def _watched(account: PlatformAccount, row: AccountSlot) -> bool:
    # Pictures only (the profile text is not a picture to compare); not while a push of ours is
    # on its way (no sha256 yet), nor slots the person turned off.
    return row.slot in PICTURES and bool(row.sha256) and row.slot not in account.slots_off


def _slot_names(account: PlatformAccount) -> list[str]:
    platform = REGISTRY.get(account.platform)
    return [slot for slot in platform.capabilities.slots if slot in PICTURES] if platform else []


def _changed_slot(account: PlatformAccount, slot: str) -> AccountSlot:
    row = account.slot(slot)
    if row is None or row.drift_status != CHANGED or row.drift_for != row.sha256:
        raise Conflict(f"The {slot} on this account is not marked as changed.")
    return row


def _clear(row: AccountSlot) -> None:
    _drop_live(row)
    row.drift_status = row.drift_for = row.drift_error = row.live_fingerprint = None
    row.drift_checked_at = None


def _drop_live(row: AccountSlot) -> None:
    # The file itself goes with the orphan sweep (images/cleanup.py), once no slot refers to it:
    # two accounts showing the same picture share one thumbnail.
    row.live_key = None


def _ours_task(account: PlatformAccount, row: AccountSlot) -> SyncTask | None:
    """The task that pushed the bytes `row` records: it names our image and its preset."""
    return db.session.scalar(
        select(SyncTask)
        .where(
            SyncTask.account_id == account.id,
            SyncTask.slot == row.slot,
            SyncTask.status.in_((TaskStatus.SUCCEEDED, TaskStatus.SKIPPED)),
            SyncTask.content_sha256 == row.sha256,
            SyncTask.image_id.is_not(None),
        )
        .order_by(SyncTask.id.desc())
        .limit(1)
    )


def _ours_key(account: PlatformAccount, row: AccountSlot) -> str | None:
    task = _ours_task(account, row)
    image = db.session.get(Image, task.image_id) if task else None
    variant = image.variant(task.preset_key) if image else None
    return variant.storage_key if variant else None


def _ours_file(account: PlatformAccount, row: AccountSlot) -> bytes | None:
    key = _ours_key(account, row)
    return storage().get(key) if key else None


def _download(url: str) -> bytes:
    http = PlatformHttp()
    try:
        with http.get(url, stream=True) as response:
            if response.status_code != 200:
                raise DriftError(f"The picture could not be fetched (HTTP {response.status_code}).")
            data = bytearray()
            for chunk in response.iter_content(64 * 1024):
                data += chunk
                if len(data) > MAX_DOWNLOAD:
                    raise DriftError("The platform's picture is too large to be a profile image.")
            return bytes(data)
    finally:
        http.close()


def _tell_changed(account: PlatformAccount, row: AccountSlot) -> None:
    from app.services.notifications import events

    events.emit(
        account.user_id,
        "drift.detected",
        account_id=account.id,
        platform=account.platform,
        handle=account.handle,
        slot=row.slot,
    )
