"""Scheduled looks: a release that goes out at a chosen time and is optionally reverted later.

Times are entered and shown in the person's time zone and stored in UTC. A schedule runs from
a delayed job queued for its time (RQ's scheduler, or the in-process worker's timer) and from
the periodic sweep (`run_due_schedules`), which catches up after downtime or a lost job. Both
claim the row with one conditional UPDATE, in the same transaction as the release, so however
many copies run (and however many sweep rounds were missed), a schedule goes out once.

What a late run does: a look whose time passed while nothing was running goes out once, when
the system is back; if its revert time has passed too, neither happens and the schedule is
marked missed (putting a look on only to take it off at once would push twice for nothing).
The revert puts back, slot by slot, the image that was current when the look went out, and only
where the scheduled image is still current: a look the person changed by hand meanwhile stays.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.jobs import enqueue, enqueue_on_commit
from app.models import Image, ImageKind, ImageStatus, ScheduledRelease, ScheduleStatus, User
from app.models.schedule import WAITING
from app.services.exceptions import Conflict, DomainError, NotFound
from app.services.images import library
from app.services.sync import releases

log = logging.getLogger(__name__)

# A time typed into a minute-precision form for "right now" is a little in the past by the time
# it arrives; it goes out at once rather than being refused.
SLACK = timedelta(minutes=2)
MAX_AHEAD = timedelta(days=366)
SWEEP_BATCH = 100
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
    if avatar_id is None and banner_id is None:
        fields["avatar_id"] = "Choose an avatar, a banner or both."
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


# Running


def run(schedule_id: int, now: datetime | None = None) -> str | None:
    """Do what is due for one schedule: its look, or its revert; commits. What happened, or
    None when nothing was due (not yet, cancelled, or another copy of the job got there first)."""
    now = now or utcnow()
    outcome = _apply(schedule_id, now)
    if outcome in (None, ScheduleStatus.APPLIED):
        outcome = _revert(schedule_id, now) or outcome
    if outcome is None:
        _wait_again(schedule_id, now)
    return outcome


def _wait_again(schedule_id: int, now: datetime) -> None:
    # RQ keeps a delayed job's time in whole seconds and may start it up to a second early;
    # such an early run queues itself again for the rest (plus a second), not for the next sweep.
    schedule = db.session.get(ScheduledRelease, schedule_id)
    if schedule is None:
        return
    due = {ScheduleStatus.PENDING: schedule.at, ScheduleStatus.APPLIED: schedule.revert_at}
    moment = due.get(schedule.status)
    if moment is not None and moment > now:
        enqueue("run_schedule", schedule_id, delay=moment - now + timedelta(seconds=1))


def due_ids(now: datetime, limit: int = SWEEP_BATCH) -> list[int]:
    query = (
        select(ScheduledRelease.id)
        .where(
            or_(
                and_(
                    ScheduledRelease.status == ScheduleStatus.PENDING,
                    ScheduledRelease.at <= now,
                ),
                and_(
                    ScheduledRelease.status == ScheduleStatus.APPLIED,
                    ScheduledRelease.revert_at <= now,
                ),
            )
        )
        .order_by(ScheduledRelease.at)
        .limit(limit)
    )
    return list(db.session.scalars(query))


def run_due(now: datetime | None = None) -> dict[str, int]:
    """The sweep: every schedule that is due, each in its own transaction."""
    now = now or utcnow()
    counts: dict[str, int] = {}
    for schedule_id in due_ids(now):
        try:
            outcome = run(schedule_id, now)
        except Exception:
            # One broken schedule must not hold up the others; the next round tries it again.
            db.session.rollback()
            log.exception("scheduled release %s could not run", schedule_id)
            outcome = "error"
        if outcome:
            counts[str(outcome)] = counts.get(str(outcome), 0) + 1
    return counts


def _claimed(schedule_id: int, status: ScheduleStatus, due_column, now: datetime) -> bool:
    """Take the schedule's due step, or learn that it is not due or another copy has it.

    One conditional UPDATE: a second copy (on PostgreSQL it waits for this row's lock) then
    finds the status changed and claims nothing. The step's work commits with the claim, so a
    crash midway leaves the schedule as it was, for the next sweep.
    """
    result = db.session.execute(
        update(ScheduledRelease)
        .where(
            ScheduledRelease.id == schedule_id,
            ScheduledRelease.status == status,
            due_column <= now,
        )
        .values(status=ScheduleStatus.FAILED)  # overwritten by the step before it commits
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:
        db.session.rollback()
        return False
    return True


def _load(schedule_id: int) -> ScheduledRelease:
    return db.session.scalars(
        select(ScheduledRelease)
        .where(ScheduledRelease.id == schedule_id)
        .execution_options(populate_existing=True)
    ).one()


def _current(user_id: int, kind: ImageKind) -> int | None:
    return db.session.scalar(
        select(Image.id).where(
            Image.user_id == user_id, Image.kind == kind, Image.is_current.is_(True)
        )
    )


def _release_kwargs(schedule: ScheduledRelease) -> dict[str, Any]:
    # Profile text goes along only when the schedule asked for it.
    return {"profile": True} if schedule.profile else {}


def _apply(schedule_id: int, now: datetime) -> ScheduleStatus | None:
    if not _claimed(schedule_id, ScheduleStatus.PENDING, ScheduledRelease.at, now):
        return None
    schedule = _load(schedule_id)
    schedule.ran_at = now
    if schedule.revert_at is not None and schedule.revert_at <= now:
        schedule.status = ScheduleStatus.MISSED
        schedule.error = (
            "Linkarooie was not running between the two times, so the look was left as it was."
        )
        db.session.commit()
        log.info("scheduled release %s missed", schedule_id)
        return schedule.status
    user = db.session.get(User, schedule.user_id)
    try:
        with db.session.begin_nested():
            if schedule.avatar_image_id is None and schedule.banner_image_id is None:
                raise Conflict("Its images have been deleted, so the look could not go out.")
            previous = {}
            for kind, image_id in (
                (ImageKind.AVATAR, schedule.avatar_image_id),
                (ImageKind.BANNER, schedule.banner_image_id),
            ):
                if image_id is not None:
                    previous[kind] = _current(user.id, kind)
                    library.set_current(db.session.get(Image, image_id))
            release = releases.start(
                user,
                avatar_id=schedule.avatar_image_id,
                banner_id=schedule.banner_image_id,
                use_current=False,
                **_release_kwargs(schedule),
            )
    except DomainError as exc:
        schedule.status = ScheduleStatus.FAILED
        schedule.error = exc.message
        db.session.commit()
        log.info("scheduled release %s failed: %s", schedule_id, exc.message)
        return schedule.status
    schedule.previous_avatar_id = previous.get(ImageKind.AVATAR)
    schedule.previous_banner_id = previous.get(ImageKind.BANNER)
    schedule.run_release_id = release.id
    schedule.error = None
    if schedule.revert_at is not None:
        schedule.status = ScheduleStatus.APPLIED
        enqueue_on_commit("run_schedule", schedule.id, delay=schedule.revert_at - now)
    else:
        schedule.status = ScheduleStatus.DONE
    db.session.commit()
    log.info("scheduled release %s went out as release %s", schedule_id, release.id)
    return schedule.status


def _revert(schedule_id: int, now: datetime) -> ScheduleStatus | None:
    if not _claimed(schedule_id, ScheduleStatus.APPLIED, ScheduledRelease.revert_at, now):
        return None
    schedule = _load(schedule_id)
    schedule.reverted_at = now
    schedule.status = ScheduleStatus.REVERTED
    user = db.session.get(User, schedule.user_id)
    back: dict[ImageKind, int] = {}
    for kind, ours, earlier in (
        (ImageKind.AVATAR, schedule.avatar_image_id, schedule.previous_avatar_id),
        (ImageKind.BANNER, schedule.banner_image_id, schedule.previous_banner_id),
    ):
        # Only a slot still showing the scheduled image goes back.
        still_ours = ours is not None and _current(user.id, kind) == ours
        if still_ours and earlier is not None and earlier != ours:
            back[kind] = earlier
    if not back:
        schedule.error = "Nothing was put back: the look had been changed since (or it was new)."
        db.session.commit()
        return schedule.status
    try:
        with db.session.begin_nested():
            for image_id in back.values():
                library.set_current(db.session.get(Image, image_id))
            release = releases.start(
                user,
                avatar_id=back.get(ImageKind.AVATAR),
                banner_id=back.get(ImageKind.BANNER),
                use_current=False,
            )
    except DomainError as exc:
        schedule.status = ScheduleStatus.FAILED
        schedule.error = f"The earlier look could not be put back: {exc.message}"
        db.session.commit()
        return schedule.status
    schedule.revert_release_id = release.id
    schedule.error = None
    db.session.commit()
    log.info("scheduled release %s reverted as release %s", schedule_id, release.id)
    return schedule.status


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
