"""Scheduled looks: creating, listing and cancelling them, and the time zones they are
entered and shown in (stored in UTC). Running them is schedule_runs.py."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.jobs import enqueue_on_commit
from app.models import Image, ImageKind, ImageStatus, ScheduledRelease, ScheduleStatus, User
from app.models.schedule import WAITING
from app.services.exceptions import Conflict, DomainError, NotFound

# A time typed into a minute-precision form for "right now" is a little in the past by the time
# it arrives; it goes out at once rather than being refused.
SLACK = timedelta(minutes=2)
MAX_AHEAD = timedelta(days=366)
DEFAULT_ZONE = "UTC"


def utcnow() -> datetime:
    """The one clock the schedule jobs read (tests move it)."""
    return datetime.now(UTC)


class ScheduleInvalid(DomainError):
    """One or more fields were refused; `fields` maps each field to what is wrong with it."""

    status = 422
    code = "invalid_schedule"

    def __init__(self, fields: dict[str, str]):
        super().__init__("The schedule could not be saved: " + " ".join(fields.values()))
        self.fields = fields


# Time zones


@functools.cache
def zone_names() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def zone_of(user: User) -> ZoneInfo:
    return ZoneInfo(user.time_zone or DEFAULT_ZONE)


def check_zone(name: str | None) -> str | None:
    """The zone name if it is an IANA zone this system knows, else None."""
    name = (name or "").strip()
    return name if name in zone_names() else None


def parse_time(raw: Any, zone: ZoneInfo) -> datetime:
    """An ISO 8601 time as UTC: with an offset it is used as is, without one it is a wall-clock
    time in `zone`. Raises ValueError with a message the person can read."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("Enter a date and time.")
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError("Enter a date and time such as 2026-12-24T18:00.") from None
    if moment.tzinfo is not None:
        return moment.astimezone(UTC)
    local = moment.replace(tzinfo=zone)
    # A wall-clock time skipped when the clocks go forward comes back different.
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != moment:
        raise ValueError(f"That time does not exist in {zone.key} (the clocks go forward then).")
    return local.astimezone(UTC)


def local(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    return moment.astimezone(zone) if moment else None


# Creating, listing, cancelling


def create(
    user: User,
    *,
    avatar_id: int | None,
    banner_id: int | None,
    profile: bool,
    at: Any,
    revert_at: Any = None,
    time_zone: str | None = None,
    now: datetime | None = None,
) -> ScheduledRelease:
    """A new pending schedule and its delayed job (queued on commit). `at`/`revert_at`: ISO
    strings (naive ones in the person's zone) or aware datetimes. `time_zone`, when given, is
    saved as the person's zone first (the page's form sends it). Never commits."""
    now = now or utcnow()
    fields: dict[str, str] = {}
    if time_zone is not None:
        if check_zone(time_zone) is None:
            fields["time_zone"] = "Choose a time zone from the list."
        else:
            user.time_zone = check_zone(time_zone)
    zone = zone_of(user)
    start = _time(fields, "at", at, zone)
    end = _time(fields, "revert_at", revert_at, zone) if revert_at not in (None, "") else None
    if start is not None:
        if start < now - SLACK:
            fields["at"] = "Choose a time in the future."
        elif start > now + MAX_AHEAD:
            fields["at"] = "Choose a time within a year."
    if start is not None and end is not None and "at" not in fields:
        if end <= start:
            fields["revert_at"] = "Choose a time after the look goes out."
        elif end > start + MAX_AHEAD:
            fields["revert_at"] = "Choose a time within a year of the look going out."
    avatar = _image(fields, "avatar_id", user, avatar_id, ImageKind.AVATAR)
    banner = _image(fields, "banner_id", user, banner_id, ImageKind.BANNER)
    if avatar_id is None and banner_id is None and not profile:
        fields["avatar_id"] = "Choose an avatar, a banner or your profile text."
    if fields:
        raise ScheduleInvalid(fields)
    schedule = ScheduledRelease(
        user_id=user.id,
        avatar_image_id=avatar.id if avatar else None,
        banner_image_id=banner.id if banner else None,
        profile=bool(profile),
        at=start,
        revert_at=end,
        status=ScheduleStatus.PENDING,
    )
    db.session.add(schedule)
    db.session.flush()
    enqueue_on_commit("run_schedule", schedule.id, delay=max(start - now, timedelta(0)))
    return schedule


def _time(fields: dict[str, str], name: str, raw: Any, zone: ZoneInfo) -> datetime | None:
    if isinstance(raw, datetime):
        return raw.astimezone(UTC) if raw.tzinfo else raw.replace(tzinfo=zone).astimezone(UTC)
    try:
        return parse_time(raw, zone)
    except ValueError as exc:
        fields[name] = str(exc)
        return None


def _image(
    fields: dict[str, str], name: str, user: User, image_id: int | None, kind: ImageKind
) -> Image | None:
    if image_id is None:
        return None
    image = db.session.scalar(select(Image).filter_by(id=image_id, user_id=user.id))
    if image is None:
        raise NotFound(f"There is no {kind} image {image_id}.")
    if image.kind != kind:
        fields[name] = f"Image {image_id} is a {image.kind}, not a {kind}."
    elif image.status is ImageStatus.FAILED:
        fields[name] = f"Image {image_id} could not be processed, so it cannot be used."
    return image


def listing(user: User, past: int = 50) -> list[ScheduledRelease]:
    """What waits (soonest first), then what ran or was cancelled (newest first), with the
    images the page shows loaded in a few queries."""
    thumbs = (
        selectinload(ScheduledRelease.avatar_image).selectinload(Image.variants),
        selectinload(ScheduledRelease.banner_image).selectinload(Image.variants),
    )
    waiting = db.session.scalars(
        select(ScheduledRelease)
        .where(ScheduledRelease.user_id == user.id, ScheduledRelease.status.in_(WAITING))
        .order_by(ScheduledRelease.at, ScheduledRelease.id)
        .options(*thumbs)
    )
    done = db.session.scalars(
        ScheduledRelease.owned_by(user.id)
        .where(ScheduledRelease.status.not_in(WAITING))
        .limit(past)
        .options(*thumbs)
    )
    return [*waiting, *done]


def cancel(schedule: ScheduledRelease) -> ScheduledRelease:
    """Nothing more happens for it: a pending look never goes out, an applied one stays (its
    revert is dropped). Conditional, so a job running at the same moment wins or loses whole."""
    cancelled = db.session.execute(
        update(ScheduledRelease)
        .where(ScheduledRelease.id == schedule.id, ScheduledRelease.status.in_(WAITING))
        .values(status=ScheduleStatus.CANCELLED)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(schedule)
    if not cancelled:
        raise Conflict("This schedule has already run, so there is nothing left to cancel.")
    return schedule


def as_json(schedule: ScheduledRelease, zone: ZoneInfo) -> dict[str, Any]:
    def iso(moment: datetime | None) -> str | None:
        return moment.astimezone(UTC).isoformat() if moment else None

    return {
        "id": schedule.id,
        "status": schedule.status.value,
        "avatar_id": schedule.avatar_image_id,
        "banner_id": schedule.banner_image_id,
        "profile": schedule.profile,
        "at": iso(schedule.at),
        "revert_at": iso(schedule.revert_at),
        "time_zone": zone.key,
        "at_local": _local_iso(schedule.at, zone),
        "revert_at_local": _local_iso(schedule.revert_at, zone),
        "previous_avatar_id": schedule.previous_avatar_id,
        "previous_banner_id": schedule.previous_banner_id,
        "run_release_id": schedule.run_release_id,
        "revert_release_id": schedule.revert_release_id,
        "ran_at": iso(schedule.ran_at),
        "reverted_at": iso(schedule.reverted_at),
        "error": schedule.error,
    }


def _local_iso(moment: datetime | None, zone: ZoneInfo) -> str | None:
    return moment.astimezone(zone).isoformat() if moment else None
