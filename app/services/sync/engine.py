"""One sync task's life: queued → running → succeeded | skipped | retrying | failed |
needs_reconnect, every transition committed before the next step, so Postgres always says where
a push stands and the reconciler can pick up whatever Redis or a dead worker dropped.

Two rules keep pushes exactly-once as far as the platform can see:
- the bytes an account's slot last received are recorded (account_slots), so the same bytes
  again are `skipped`, not uploaded;
- before uploading, the task records what the slot showed; if a worker dies mid-push, the next
  run compares the slot with that record, and a changed slot means the upload landed.
Pushes to one account take turns (PlatformAccount.busy_until), so a token refresh never races.
The profile slot carries text instead of a file (its digest is that of the fitted text); setting
the same text twice changes nothing, so it needs no crash record.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.orm import object_session

from app.extensions import db
from app.jobs import enqueue_on_commit
from app.models import AccountSlot, AccountStatus, Image, PlatformAccount, SyncTask, TaskStatus
from app.models.sync import OPEN
from app.services import analytics
from app.services.images.library import storage
from app.services.ops import metrics
from app.services.platforms import connections, get
from app.services.platforms.base import PROFILE_SLOT, Permanent, ReconnectNeeded, RetryLater
from app.services.profiles import fitting
from app.services.sync import notices, progress

log = logging.getLogger(__name__)

JOB = "run_sync_task"
BUSY_RETRY_SECONDS = 1.0  # another push to the same account is running: look again soon
IMAGE_WAIT_SECONDS = 2.0  # the image is still being processed


def utcnow() -> datetime:
    return datetime.now(UTC)


def run(task_id: int) -> TaskStatus | None:
    """Run one attempt of a task (the job's whole body). Commits; returns the status it left."""
    task = db.session.get(SyncTask, task_id)
    if task is None or task.is_finished or task.is_manual:
        return task.status if task else None  # manual steps are the person's, not a worker's
    now = utcnow()
    if task.status is TaskStatus.RETRYING and task.next_attempt_at and task.next_attempt_at > now:
        _schedule(task, task.next_attempt_at - now)  # woken early (e.g. by the reconciler)
        db.session.commit()
        return task.status
    if task.status is TaskStatus.RUNNING and task.lease_until and task.lease_until > now:
        db.session.rollback()
        return task.status  # a second copy of a job that is still running elsewhere
    account = task.account
    if not account.is_connected:
        _finish(task, TaskStatus.NEEDS_RECONNECT, _reconnect_message(account))
        db.session.commit()
        return task.status
    if _image_pending(task):
        # Not an attempt: the file is still being made (a sync right after an upload).
        _schedule(task, timedelta(seconds=IMAGE_WAIT_SECONDS))
        db.session.commit()
        return task.status
    if not connections.take_turn(account.id, task.id, now):
        _schedule(task, timedelta(seconds=BUSY_RETRY_SECONDS * (1 + random.random())))
        db.session.commit()
        return task.status
    interrupted = task.status is TaskStatus.RUNNING  # its lease ran out: a worker died mid-push
    if not _claim(task, now):
        db.session.commit()  # another copy of this job claimed it first; its account turn too
        return TaskStatus.RUNNING
    _changed(task)
    db.session.commit()
    try:
        _attempt(task, account, interrupted)
    except RetryLater as failure:
        _retry_or_give_up(task, failure)
    except ReconnectNeeded as failure:
        connections.mark_expired(account, failure.message)
        _finish(task, TaskStatus.NEEDS_RECONNECT, failure.message)
    except Permanent as failure:
        _finish(task, TaskStatus.FAILED, failure.message)
    except Exception:
        # A bug or an outage we did not foresee: keep the row honest and try again later.
        log.exception("sync task %s crashed", task.id)
        db.session.rollback()
        task = db.session.get(SyncTask, task_id)
        _retry_or_give_up(task, RetryLater("Something went wrong on our side; will try again."))
    finally:
        status = task.status
        connections.end_turn(task.account_id, task.id)
        db.session.commit()
    return status


def _attempt(task: SyncTask, account: PlatformAccount, interrupted: bool) -> None:
    adapter = get(account.platform)
    if task.slot == PROFILE_SLOT:
        _attempt_text(task, account, adapter)
        return
    data, mime = _file(task)
    digest = hashlib.sha256(data).hexdigest()
    pushed = account.slot(task.slot)
    if pushed is not None and pushed.sha256 == digest:
        task.remote_url = pushed.remote_url
        _finish(task, TaskStatus.SKIPPED, None)
        return
    if interrupted and task.content_sha256 == digest and _landed(adapter, account, task, data):
        _record_push(account, task, digest, adapter.current_image_url(account, task.slot))
        return
    task.content_sha256 = digest
    if not adapter.content_addressed:
        task.remote_before = adapter.current_image_url(account, task.slot) or ""
    db.session.commit()  # the record a crash-recovery run compares against
    started = time.perf_counter()
    try:
        result = adapter.push(account, task.slot, data, mime)
    finally:
        # Failures too: a platform that is slow to say no is what the admin page must show.
        task.push_ms = round((time.perf_counter() - started) * 1000)
    _record_push(account, task, digest, result.remote_url)


def _attempt_text(task: SyncTask, account: PlatformAccount, adapter) -> None:
    """The profile slot: the release's text as `fitting.fit` makes it for this platform (what
    the preview showed). Setting the same text twice changes nothing, so unlike an upload an
    attempt interrupted by a crash is simply made again."""
    fitted = fitting.fit(task.request.profile_text, adapter.capabilities)
    if not fitted.values:
        raise Permanent("This platform takes none of the profile text.")
    digest = fitted.digest
    pushed = account.slot(task.slot)
    if pushed is not None and pushed.sha256 == digest:
        task.remote_url = pushed.remote_url
        _finish(task, TaskStatus.SKIPPED, None)
        return
    task.content_sha256 = digest
    db.session.commit()
    started = time.perf_counter()
    try:
        result = adapter.push_profile(account, fitted.values)
    finally:
        task.push_ms = round((time.perf_counter() - started) * 1000)
    _record_push(account, task, digest, result.remote_url)


def _landed(adapter, account: PlatformAccount, task: SyncTask, data: bytes) -> bool:
    """After a crash mid-push: did the upload reach the platform before the worker died?"""
    if adapter.content_addressed:
        return adapter.shows(account, task.slot, data)
    if task.remote_before is None:
        return False  # the crash came before the upload began
    return (adapter.current_image_url(account, task.slot) or "") != task.remote_before


def _file(task: SyncTask) -> tuple[bytes, str]:
    """The bytes of the task's preset for its image, waiting while the image is processed."""
    image = db.session.get(Image, task.image_id) if task.image_id else None
    if image is None:
        raise Permanent("The image was deleted before it could be synced.")
    variant = image.variant(task.preset_key)
    if variant is None:
        raise Permanent(image.error or "The image has no file for this platform.")
    return storage().get(variant.storage_key), variant.mime


def _image_pending(task: SyncTask) -> bool:
    image = db.session.get(Image, task.image_id) if task.image_id else None
    return image is not None and image.is_pending


def _record_push(account: PlatformAccount, task: SyncTask, digest: str, url: str | None) -> None:
    slot = account.slot(task.slot)
    if slot is None:
        slot = AccountSlot(account_id=account.id, slot=task.slot, sha256=digest, pushed_at=utcnow())
        account.slots.append(slot)
    slot.sha256, slot.remote_url, slot.pushed_at = digest, url, utcnow()
    task.remote_url = url
    account.last_error = None
    _finish(task, TaskStatus.SUCCEEDED, None)


def _retry_or_give_up(task: SyncTask, failure: RetryLater) -> None:
    if failure.rate_limited:
        metrics.count_push(task.account.platform, "rate_limited")
    config = current_app.config
    if failure.rate_limited and task.rate_limited < config["SYNC_RATE_LIMIT_WAITS"]:
        task.rate_limited += 1
    if task.attempts - task.rate_limited >= config["SYNC_MAX_ATTEMPTS"]:
        _finish(task, TaskStatus.FAILED, f"{failure.message} Gave up after {task.attempts} tries.")
        return
    now = utcnow()
    if failure.retry_at is not None and failure.retry_at > now:
        # The platform said when: be there just after, spread a little so waiters don't stampede.
        wait = failure.retry_at - now + timedelta(seconds=random.uniform(0.05, 0.5))
    else:
        base = config["SYNC_RETRY_BASE"] * 2 ** max(task.attempts - 1, 0)
        wait = timedelta(seconds=min(base, config["SYNC_RETRY_MAX"]) * random.uniform(0.5, 1.0))
    task.status = TaskStatus.RETRYING
    task.error = failure.message
    task.next_attempt_at = now + wait
    task.lease_until = None
    _schedule(task, wait)


def _schedule(task: SyncTask, wait: timedelta) -> None:
    _changed(task)
    enqueue_on_commit(JOB, task.id, delay=wait if wait.total_seconds() > 0 else None)


def _finish(task: SyncTask, status: TaskStatus, error: str | None) -> None:
    task.status = status
    task.error = error
    task.lease_until = task.next_attempt_at = None
    task.finished_at = utcnow()
    _changed(task)
    metrics.count_push(task.account.platform, status.value)
    request = task.request
    analytics.record(
        "sync_task", task.user_id, subject=task.account.platform, outcome=status.value,
        duration_ms=int((task.finished_at - request.created_at).total_seconds() * 1000),
    )  # fmt: skip
    if request.finished_at is None and all(
        t.status not in OPEN for t in request.tasks if t is not task
    ):
        request.finished_at = task.finished_at
        notices.release_finished(request)


def _changed(task: SyncTask) -> None:
    task.updated_at = utcnow()
    progress.changed_on_commit(task.request_id, task.user_id)


def _reconnect_message(account: PlatformAccount) -> str:
    if account.status is AccountStatus.REVOKED:
        return "This account was disconnected."
    return account.last_error or "Reconnect this account to sync to it."


def _claim(task: SyncTask, now: datetime) -> bool:
    """Mark the task running, in one conditional UPDATE: of two copies of its job (a re-queue
    racing the original), exactly one gets past this point."""
    lease = now + timedelta(seconds=current_app.config["SYNC_LEASE_SECONDS"])
    session = object_session(task) or db.session()
    claimed = session.execute(
        update(SyncTask)
        .where(
            SyncTask.id == task.id,
            or_(
                SyncTask.status.in_((TaskStatus.QUEUED, TaskStatus.RETRYING)),
                (SyncTask.status == TaskStatus.RUNNING)
                & or_(SyncTask.lease_until.is_(None), SyncTask.lease_until < now),
            ),
        )
        .values(status=TaskStatus.RUNNING, attempts=SyncTask.attempts + 1, lease_until=lease)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return False
    session.refresh(task)
    return True


def retry(task: SyncTask) -> SyncTask:
    """The person's "Retry" on a failed or reconnect-needed task: a fresh set of attempts."""
    if task.status not in (TaskStatus.FAILED, TaskStatus.NEEDS_RECONNECT):
        return task
    task.status = TaskStatus.QUEUED
    task.attempts = task.rate_limited = 0
    task.error = None
    task.finished_at = None
    task.request.finished_at = None
    _schedule(task, timedelta(0))
    return task


def requeue_stale(now: datetime, stale_after: timedelta) -> list[int]:
    """Queue again every task whose job Redis (or a dead worker) may have lost."""
    grace = timedelta(seconds=5)
    stale = list(
        db.session.scalars(
            select(SyncTask).where(
                or_(
                    (SyncTask.status == TaskStatus.QUEUED)
                    & (SyncTask.updated_at < now - stale_after),
                    (SyncTask.status == TaskStatus.RUNNING) & (SyncTask.lease_until < now),
                    (SyncTask.status == TaskStatus.RETRYING)
                    & (SyncTask.next_attempt_at < now - grace),
                )
            )
        )
    )
    for task in stale:
        enqueue_on_commit(JOB, task.id)
    return [task.id for task in stale]
