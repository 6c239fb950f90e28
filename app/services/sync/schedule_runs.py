"""Running scheduled looks: the look at its time, the earlier look back at the revert time.

A schedule runs from a delayed job queued for its time (RQ's scheduler, or the in-process
worker's timer) and from the periodic sweep (`run_due_schedules`), which catches up after
downtime or a lost job. Both claim the row with one conditional UPDATE, in the same transaction
as the release, so however many copies run (and however many sweep rounds were missed), a
schedule goes out once.

A late run: a look whose time passed while nothing was running goes out once, when the system is
back; if its revert time has passed too, neither happens and the schedule is marked missed
(putting a look on only to take it off at once would push twice for nothing). The revert puts
back, slot by slot, the image that was current when the look went out, and only where the
scheduled image is still current: a look the person changed by hand meanwhile stays. A look that
carried the profile text puts back the text the release before it carried, if any did.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from app.extensions import db
from app.jobs import enqueue, enqueue_on_commit
from app.models import Image, ImageKind, ScheduledRelease, ScheduleStatus, SyncRequest, User
from app.services.exceptions import Conflict, DomainError
from app.services.images import library
from app.services.notifications import events
from app.services.sync import releases, schedules

log = logging.getLogger(__name__)

SWEEP_BATCH = 100


def run(schedule_id: int, now: datetime | None = None) -> str | None:
    """Do what is due for one schedule: its look, or its revert; commits. What happened, or
    None when nothing was due (not yet, cancelled, or another copy of the job got there first)."""
    now = now or schedules.utcnow()
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
    now = now or schedules.utcnow()
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


def _earlier_text(schedule: ScheduledRelease) -> dict[str, Any] | None:
    """The profile text the platforms had before the look went out: the last text a release
    carried before the look's own release."""
    if not schedule.profile or schedule.run_release_id is None:
        return None
    return db.session.scalar(
        select(SyncRequest.profile_text)
        .where(
            SyncRequest.user_id == schedule.user_id,
            SyncRequest.id < schedule.run_release_id,
            SyncRequest.profile_text.is_not(None),
        )
        .order_by(SyncRequest.id.desc())
        .limit(1)
    )


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
            nothing = schedule.avatar_image_id is None and schedule.banner_image_id is None
            if nothing and not schedule.profile:
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
                profile=schedule.profile,
            )
    except DomainError as exc:
        schedule.status = ScheduleStatus.FAILED
        schedule.error = exc.message
        events.emit(user.id, "schedule.ran", schedule_id=schedule.id, error=exc.message[:300])
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
    events.emit(user.id, "schedule.ran", schedule_id=schedule.id, release_id=release.id)
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
    earlier_text = _earlier_text(schedule)
    if not back and earlier_text is None:
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
                profile_text=earlier_text,
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
