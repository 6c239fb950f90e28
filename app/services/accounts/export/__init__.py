"""Full data export: a person asks, a job builds one zip of everything we hold about them
(tables.py says which rows, archive.py writes it), they are told when it is ready, and the zip is
deleted EXPORT_RETENTION_DAYS later.

One export at a time per person: asking while one is queued or building answers that one. A
partial unique index enforces it, so two racing requests cannot both start one. The zip lives
under the private prefix exports/ and is only ever streamed by the app to its signed-in owner.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import IO

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.infra.storage import Storage, StorageKeyNotFound
from app.jobs import enqueue, enqueue_on_commit
from app.models import DataExport, ExportStatus, User
from app.models.export import RUNNING
from app.services.accounts.export import archive
from app.services.exceptions import Conflict, DomainError
from app.services.notifications import events

log = logging.getLogger(__name__)

PREFIX = "exports/"
# A build whose worker died more often than this is given up (it would only die again).
MAX_ATTEMPTS = 3
FAILED_MESSAGE = "Something went wrong while building your export. Please ask for a new one."


def utcnow() -> datetime:
    return datetime.now(UTC)


def _storage() -> Storage:
    return current_app.extensions["storage"]


def storage_key(export: DataExport) -> str:
    return f"{PREFIX}{export.user_id}/{export.id}.zip"


class ExportRunning(Conflict):
    code = "export_running"

    def __init__(self, export: DataExport) -> None:
        super().__init__(
            f"Your export is already being prepared ({export.status}, asked for at "
            f"{export.created_at:%Y-%m-%d %H:%M} UTC). We will tell you when it is ready."
        )
        self.export = export


class ExportGone(DomainError):
    status = 410
    code = "export_expired"

    def __init__(self) -> None:
        super().__init__(
            "This export has expired and its file was deleted. Ask for a new one under "
            "Settings → Your data."
        )


class ExportNotReady(Conflict):
    code = "export_not_ready"

    def __init__(self, export: DataExport) -> None:
        reason = (
            f"it failed: {export.error}"
            if export.status is ExportStatus.FAILED
            else "it is still being prepared"
        )
        super().__init__(f"This export cannot be downloaded: {reason}.")


def running(user_id: int) -> DataExport | None:
    return db.session.scalar(
        select(DataExport).where(DataExport.user_id == user_id, DataExport.status.in_(RUNNING))
    )


def request_export(user: User) -> DataExport:
    """Queue a new export for `user`, or raise ExportRunning with the one under way. The caller
    commits (the job is queued after the commit)."""
    if current := running(user.id):
        raise ExportRunning(current)
    export = DataExport(user_id=user.id, status=ExportStatus.QUEUED, created_at=utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(export)
            db.session.flush()
    except IntegrityError:
        # Another request of theirs got in between our check and our insert (the unique index).
        current = running(user.id)
        if current is None:
            raise
        raise ExportRunning(current) from None
    enqueue_on_commit("build_export", export.id)
    return export


def listing(user_id: int, limit: int = 20) -> list[DataExport]:
    return list(db.session.scalars(DataExport.owned_by(user_id).limit(limit)))


def is_expired(export: DataExport, now: datetime | None = None) -> bool:
    if export.status is ExportStatus.EXPIRED:
        return True
    return (
        export.status is ExportStatus.READY
        and export.expires_at is not None
        and export.expires_at <= (now or utcnow())
    )


def downloadable(export: DataExport) -> str:
    """The storage key to stream for `export`, or ExportGone / ExportNotReady."""
    if is_expired(export):
        raise ExportGone()
    if export.status is not ExportStatus.READY or not export.storage_key:
        raise ExportNotReady(export)
    return export.storage_key


def open_download(export: DataExport) -> tuple[IO[bytes], str]:
    """The zip as an open stream (the caller closes it) and its file name; ExportGone when
    expired or its file is missing, ExportNotReady before it is built."""
    key = downloadable(export)
    try:
        source = _storage().open(key)
    except StorageKeyNotFound:
        raise ExportGone() from None
    return source, f"linkarooie-data-{export.created_at:%Y-%m-%d}-{export.id}.zip"


def stored_keys(user_id: int) -> list[str]:
    """Every storage key that holds an export of `user_id`: those its rows name, and whatever
    lies under the person's prefix (a build interrupted after its upload). For deleting an
    account's files; deleting a missing key is harmless."""
    keys = set(
        db.session.scalars(
            select(DataExport.storage_key).where(
                DataExport.user_id == user_id, DataExport.storage_key.is_not(None)
            )
        )
    )
    keys.update(obj.key for obj in _storage().list(f"{PREFIX}{user_id}/"))
    return sorted(keys)


def build(export_id: int) -> DataExport | None:
    """The job's body: build the zip, store it, mark the row ready and tell the person.
    Idempotent: an export no longer queued or building is left alone. Commits."""
    export = db.session.get(DataExport, export_id, with_for_update=True)
    if export is None or not export.is_running:
        db.session.rollback()
        return None
    export.status = ExportStatus.BUILDING
    export.started_at = utcnow()
    export.attempts += 1
    if export.attempts > MAX_ATTEMPTS:
        return _fail(export, "Building your export kept failing. Please ask for a new one.")
    db.session.commit()

    try:
        made = utcnow()
        key = storage_key(export)
        built = archive.build_and_store(
            export.user_id, key, _storage(), made.strftime("%Y-%m-%d %H:%M")
        )
    except Exception:
        db.session.rollback()
        log.exception("export %s failed", export_id)
        export = db.session.get(DataExport, export_id)
        _fail(export, FAILED_MESSAGE)
        raise
    export = db.session.get(DataExport, export_id)
    now = utcnow()
    export.status = ExportStatus.READY
    export.storage_key = key
    export.bytes = built.bytes
    export.finished_at = now
    export.expires_at = now + timedelta(days=current_app.config["EXPORT_RETENTION_DAYS"])
    export.error = None
    events.emit(
        export.user_id,
        "export.ready",
        export_id=export.id,
        bytes=built.bytes,
        expires_at=export.expires_at.isoformat(),
    )
    db.session.commit()
    return export


def _fail(export: DataExport | None, message: str) -> DataExport | None:
    if export is not None and export.is_running:
        export.status = ExportStatus.FAILED
        export.error = message
        export.finished_at = utcnow()
    db.session.commit()
    return export


def expire_due(now: datetime | None = None) -> list[int]:
    """Delete the zips of exports past their expiry and mark them expired; their ids. The
    caller commits (a file deleted before a failed commit is deleted again next round)."""
    now = now or utcnow()
    due = list(
        db.session.scalars(
            select(DataExport)
            .where(DataExport.status == ExportStatus.READY, DataExport.expires_at <= now)
            .order_by(DataExport.id)
        )
    )
    for export in due:
        if export.storage_key:
            _storage().delete(export.storage_key)
        export.status = ExportStatus.EXPIRED
        export.storage_key = None
    return [export.id for export in due]


def requeue_stale(now: datetime, stale_after: timedelta) -> list[int]:
    """Queue again exports whose job Redis lost (queued too long) or whose worker died
    (building for longer than a job may run)."""
    building_limit = stale_after + timedelta(seconds=current_app.config["JOB_TIMEOUT"])
    stale = list(
        db.session.scalars(
            select(DataExport.id).where(
                or_(
                    (DataExport.status == ExportStatus.QUEUED)
                    & (DataExport.created_at < now - stale_after),
                    (DataExport.status == ExportStatus.BUILDING)
                    & (DataExport.started_at < now - building_limit),
                )
            )
        )
    )
    for export_id in stale:
        enqueue("build_export", export_id)
    return stale


def as_json(export: DataExport, download_url: str | None = None) -> dict:
    return {
        "id": export.id,
        "status": export.status.value,
        "created_at": export.created_at.isoformat(),
        "finished_at": export.finished_at.isoformat() if export.finished_at else None,
        "expires_at": export.expires_at.isoformat() if export.expires_at else None,
        "bytes": export.bytes,
        "error": export.error,
        "download_url": download_url,
    }
