"""Telling the person a release finished: one event per release (never one per step), from
wherever the last step closed it (the engine, or a manual step marked done)."""

from __future__ import annotations

from app.models import SyncRequest
from app.models.sync import TaskStatus
from app.services.notifications import events

FAILED = (TaskStatus.FAILED, TaskStatus.NEEDS_RECONNECT)


def release_finished(release: SyncRequest) -> None:
    """Emit release.completed when no step failed, else release.failed naming each failed step
    (platform, handle, slot, error). Dismissed manual steps were the person's choice: not
    failures. The caller commits."""
    failed = [
        {
            "platform": task.account.platform,
            "handle": task.account.handle,
            "slot": task.slot,
            "error": (task.error or task.status.value.replace("_", " "))[:300],
        }
        for task in release.tasks
        if task.status in FAILED
    ]
    total = sum(1 for task in release.tasks if task.status is not TaskStatus.DISMISSED)
    if failed:
        events.emit(
            release.user_id, "release.failed", release_id=release.id, total=total, failed=failed
        )
    else:
        events.emit(release.user_id, "release.completed", release_id=release.id, total=total)
