"""Sync requests (each one a release: which avatar and banner went where, and how it went) and
their tasks, one per (account, slot)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import TimestampMixin, UTCDateTime, str_enum
from app.models.image import Image
from app.models.platform import PlatformAccount


class TaskStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"  # waiting for its next attempt (next_attempt_at)
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"  # the platform already has these exact bytes from us
    FAILED = "failed"
    NEEDS_RECONNECT = "needs_reconnect"
    # A manual platform's slot: the person uploads the prepared file, then marks it done or
    # dismisses it (they'd rather not, this time).
    MANUAL = "manual"
    DONE = "done"
    DISMISSED = "dismissed"


# Automatic work still in flight (the engine's concern).
UNFINISHED = (TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.RETRYING)
# Anything a release still waits for, the person's manual steps included.
OPEN = (*UNFINISHED, TaskStatus.MANUAL)
FINISHED_WELL = (TaskStatus.SUCCEEDED, TaskStatus.SKIPPED, TaskStatus.DONE)


class SyncRequest(TimestampMixin, db.Model):
    __tablename__ = "sync_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    avatar_image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="SET NULL"), index=True
    )
    banner_image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="SET NULL"), index=True
    )
    # Set when this release restores an earlier one.
    restored_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("sync_requests.id", ondelete="SET NULL")
    )
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The profile text the release carries ({display_name, bio, website, links}, as it was when
    # the release began, so a restore brings it back); None: the release carries no text.
    profile_text: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    avatar_image: Mapped[Image | None] = relationship(foreign_keys=[avatar_image_id])
    banner_image: Mapped[Image | None] = relationship(foreign_keys=[banner_image_id])
    tasks: Mapped[list[SyncTask]] = relationship(
        back_populates="request",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="SyncTask.id",
    )

    @property
    def status(self) -> str:
        """queued / running while automatic work is unfinished; waiting while only the person's
        manual steps are left; then succeeded, partial or failed (dismissed steps don't count)."""
        states = [task.status for task in self.tasks]
        if any(state in UNFINISHED for state in states):
            automatic = [state for state in states if state is not TaskStatus.MANUAL]
            if all(state == TaskStatus.QUEUED for state in automatic):
                return "queued"
            return "running"
        if TaskStatus.MANUAL in states:
            return "waiting"
        counted = [state for state in states if state is not TaskStatus.DISMISSED]
        good = sum(state in FINISHED_WELL for state in counted)
        if good == len(counted):
            return "succeeded"
        return "partial" if good else "failed"

    @property
    def is_finished(self) -> bool:
        """Complete: automatic tasks finished, manual ones done or dismissed."""
        return all(task.status not in OPEN for task in self.tasks)

    @property
    def is_settled(self) -> bool:
        """Nothing will change without the person: no automatic work in flight."""
        return all(task.status not in UNFINISHED for task in self.tasks)

    @classmethod
    def owned_by(cls, user_id: int):
        return select(cls).where(cls.user_id == user_id).order_by(cls.id.desc())


class SyncTask(TimestampMixin, db.Model):
    __tablename__ = "sync_tasks"
    __table_args__ = (
        UniqueConstraint("request_id", "account_id", "slot", name="uq_sync_tasks_target"),
        # The reconciler's scan: unfinished tasks by status and time.
        Index("ix_sync_tasks_status_due", "status", "next_attempt_at"),
        # The admin page's windows (last hour / day), read every few seconds.
        Index("ix_sync_tasks_finished_at", "finished_at"),
        Index("ix_sync_tasks_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("sync_requests.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("platform_accounts.id", ondelete="CASCADE"), index=True
    )
    slot: Mapped[str] = mapped_column(String(16))
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"))
    preset_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[TaskStatus] = mapped_column(
        str_enum(TaskStatus, "sync_task_status"),
        default=TaskStatus.QUEUED,
        server_default=TaskStatus.QUEUED.value,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Attempts the platform answered "slow down" (429): waits, not failures, so they do not
    # count towards giving up (up to SYNC_RATE_LIMIT_WAITS of them).
    rate_limited: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # While running: until when the worker holds it (after that the reconciler takes it back).
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    # What the slot showed before our upload, and the bytes we sent: after a crash mid-push,
    # a changed remote image means the push landed and must not be repeated.
    remote_before: Mapped[str | None] = mapped_column(Text)
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    remote_url: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # How long the last attempt's platform call took, whatever its outcome (the admin page's
    # push latency).
    push_ms: Mapped[int | None] = mapped_column(Integer)

    request: Mapped[SyncRequest] = relationship(back_populates="tasks")
    account: Mapped[PlatformAccount] = relationship()

    @property
    def is_finished(self) -> bool:
        return self.status not in OPEN

    @property
    def is_manual(self) -> bool:
        return self.status in (TaskStatus.MANUAL, TaskStatus.DONE, TaskStatus.DISMISSED)
