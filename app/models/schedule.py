"""Scheduled looks: a release that goes out at a chosen time, optionally reverted later."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Text, false, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import TimestampMixin, UTCDateTime, str_enum
from app.models.image import Image


class ScheduleStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for `at`
    APPLIED = "applied"  # the look went out; waiting for `revert_at`
    DONE = "done"  # the look went out, nothing to revert
    REVERTED = "reverted"  # the earlier look went back out at `revert_at`
    CANCELLED = "cancelled"
    # Both `at` and `revert_at` passed while nothing was running: putting the look on now only
    # to take it off at once would push twice for nothing, so neither happened.
    MISSED = "missed"
    FAILED = "failed"  # could not go out (see error)


# Statuses a job still has work for (and the person can cancel).
WAITING = (ScheduleStatus.PENDING, ScheduleStatus.APPLIED)


class ScheduledRelease(TimestampMixin, db.Model):
    __tablename__ = "scheduled_releases"
    __table_args__ = (Index("ix_scheduled_releases_status_at", "status", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    avatar_image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="SET NULL")
    )
    banner_image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="SET NULL")
    )
    profile: Mapped[bool] = mapped_column(default=False, server_default=false())
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    revert_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[ScheduleStatus] = mapped_column(
        str_enum(ScheduleStatus, "schedule_status"),
        default=ScheduleStatus.PENDING,
        server_default=ScheduleStatus.PENDING.value,
    )
    # The look this schedule replaced when it ran (what the revert puts back), per slot it changed.
    previous_avatar_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="SET NULL")
    )
    previous_banner_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="SET NULL")
    )
    run_release_id: Mapped[int | None] = mapped_column(
        ForeignKey("sync_requests.id", ondelete="SET NULL")
    )
    revert_release_id: Mapped[int | None] = mapped_column(
        ForeignKey("sync_requests.id", ondelete="SET NULL")
    )
    ran_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reverted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Why it failed, or what the run left as it was (shown to the person).
    error: Mapped[str | None] = mapped_column(Text)

    avatar_image: Mapped[Image | None] = relationship(foreign_keys=[avatar_image_id])
    banner_image: Mapped[Image | None] = relationship(foreign_keys=[banner_image_id])

    @property
    def is_waiting(self) -> bool:
        return self.status in WAITING

    @classmethod
    def owned_by(cls, user_id: int):
        return select(cls).where(cls.user_id == user_id).order_by(cls.at.desc(), cls.id.desc())
