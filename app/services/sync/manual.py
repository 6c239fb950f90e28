"""Manual tasks: the files a person uploads themselves to a platform without an API, the steps,
and their "Done" / "Dismiss" (which complete the release like a finished push)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime

from app.extensions import db
from app.models import (
    AccountSlot,
    Image,
    ImageVariant,
    PlatformAccount,
    SyncRequest,
    SyncTask,
    TaskStatus,
)
from app.models.sync import OPEN
from app.services.exceptions import Conflict, NotFound
from app.services.images.library import EXTENSIONS, storage
from app.services.platforms import get
from app.services.platforms.manual import ManualPlatform
from app.services.sync import notices, progress


@dataclass(frozen=True)
class ManualFile:
    preset: str
    width: int
    height: int
    format: str
    bytes: int
    mime: str
    filename: str
    storage_key: str


def platform_of(task: SyncTask) -> ManualPlatform:
    platform = get(task.account.platform)
    if not isinstance(platform, ManualPlatform):
        raise Conflict("That step is pushed automatically; there is nothing to do by hand.")
    return platform


def files(task: SyncTask) -> list[ManualFile]:
    """The file(s) to upload for this task; empty while the image is still being prepared."""
    variant = _variant(task)
    if variant is None:
        return []
    extension = EXTENSIONS[variant.format]
    return [
        ManualFile(
            preset=variant.preset_key,
            width=variant.width,
            height=variant.height,
            format=variant.format,
            bytes=variant.bytes,
            mime=variant.mime,
            filename=f"linkarooie-{task.account.platform}-{task.slot}-"
            f"{variant.width}x{variant.height}.{extension}",
            storage_key=variant.storage_key,
        )
    ]


def file_of(task: SyncTask, preset: str) -> tuple[ManualFile, bytes]:
    platform_of(task)
    for manual_file in files(task):
        if manual_file.preset == preset:
            return manual_file, storage().get(manual_file.storage_key)
    raise NotFound("That file is not part of this step (or is still being prepared).")


def zip_of(release: SyncRequest) -> tuple[str, bytes]:
    """Every manual file of the release in one zip, one folder per platform, with the steps."""
    buffer = io.BytesIO()
    guide: list[str] = [f"Linkarooie release {release.id}: the files to upload by hand.", ""]
    written = 0
    # JPEG and PNG are compressed already: storing them keeps the zip fast to build.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for task in release.tasks:
            if not task.is_manual or task.status is TaskStatus.DISMISSED:
                continue
            platform = platform_of(task)
            folder = task.account.platform
            guide.append(f"{platform.label} ({task.account.handle}), {task.slot}:")
            guide.append(f"  Open {platform.settings_url}")
            for manual_file in files(task):
                archive.writestr(
                    f"{folder}/{manual_file.filename}", storage().get(manual_file.storage_key)
                )
                guide.append(f"  File: {folder}/{manual_file.filename}")
                written += 1
            guide.extend(f"  - {step}" for step in platform.steps_for(task.slot))
            guide.append("")
        if not written:
            raise NotFound("This release has no files to upload by hand (yet).")
        archive.writestr("README.txt", "\n".join(guide) + "\n")
    return f"linkarooie-release-{release.id}-manual.zip", buffer.getvalue()


def already_done(account: PlatformAccount, slot: str, image: Image, preset_key: str) -> bool:
    """Whether the person already marked exactly this file done for this slot (a repeat sync of
    the same picture asks nothing of them)."""
    record = account.slot(slot)
    variant = image.variant(preset_key)
    if record is None or variant is None:
        return False
    return hashlib.sha256(storage().get(variant.storage_key)).hexdigest() == record.sha256


def mark_done(task: SyncTask) -> SyncTask:
    """The person uploaded the file: the step counts as delivered, like a push."""
    platform_of(task)
    if task.status is TaskStatus.DONE:
        return task
    variant = _variant(task)
    if variant is not None:
        _record_slot(task, storage().get(variant.storage_key))
    return _close(task, TaskStatus.DONE)


def dismiss(task: SyncTask) -> SyncTask:
    """Not this time: the release no longer waits for the step."""
    platform_of(task)
    if task.status is TaskStatus.DONE:
        raise Conflict("That step is already marked done.")
    return _close(task, TaskStatus.DISMISSED)


def reopen(task: SyncTask) -> SyncTask:
    """Undo Done or Dismiss: the step waits for the person again."""
    platform_of(task)
    if task.status is not TaskStatus.MANUAL:
        task.status = TaskStatus.MANUAL
        task.finished_at = None
        task.request.finished_at = None
        _changed(task)
    return task


def _close(task: SyncTask, status: TaskStatus) -> SyncTask:
    now = datetime.now(UTC)
    task.status = status
    task.finished_at = now
    release = task.request
    if release.finished_at is None and all(t.status not in OPEN for t in release.tasks):
        release.finished_at = now
        notices.release_finished(release)
    _changed(task)
    return task


def _changed(task: SyncTask) -> None:
    task.updated_at = datetime.now(UTC)
    progress.changed_on_commit(task.request_id, task.user_id)


def _record_slot(task: SyncTask, data: bytes) -> None:
    """What the slot now shows, as for a push: the account's "last push" and history."""
    account = task.account
    slot = account.slot(task.slot)
    if slot is None:
        slot = AccountSlot(account_id=account.id, slot=task.slot)
        account.slots.append(slot)
    slot.sha256 = hashlib.sha256(data).hexdigest()
    slot.pushed_at = datetime.now(UTC)
    slot.remote_url = None


def _variant(task: SyncTask) -> ImageVariant | None:
    image = db.session.get(Image, task.image_id) if task.image_id else None
    return image.variant(task.preset_key) if image is not None else None
