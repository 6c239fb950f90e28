"""A person's full data export: one zip of everything we hold about them, built by a job."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, Select, String, Text, func, select
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, str_enum


class ExportStatus(enum.StrEnum):
    QUEUED = "queued"
    BUILDING = "building"
    READY = "ready"  # the zip is in storage until expires_at
    FAILED = "failed"
    EXPIRED = "expired"  # past expires_at: the zip was deleted


RUNNING = (ExportStatus.QUEUED, ExportStatus.BUILDING)
_RUNNING_SQL = sql("status IN ('queued', 'building')")


class DataExport(db.Model):
    __tablename__ = "data_exports"
    __table_args__ = (
        # One export at a time per person, even when two requests race past the check.
        Index(
            "uq_data_exports_running",
            "user_id",
            unique=True,
            postgresql_where=_RUNNING_SQL,
            sqlite_where=_RUNNING_SQL,
        ),
        Index("ix_data_exports_status_expires_at", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[ExportStatus] = mapped_column(
        str_enum(ExportStatus, "export_status"),
        default=ExportStatus.QUEUED,
        server_default=ExportStatus.QUEUED.value,
    )
    # exports/<user id>/<id>.zip: a private prefix, never given a URL (streamed by the app).
    storage_key: Mapped[str | None] = mapped_column(String(512))
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    # How many times a job started building it: a build that keeps killing its worker gives up.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), nullable=False
    )
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_running(self) -> bool:
        return self.status in RUNNING

    @classmethod
    def owned_by(cls, user_id: int) -> Select:
        return select(cls).where(cls.user_id == user_id).order_by(cls.id.desc())

    def __repr__(self) -> str:
        return f"<DataExport {self.id} {self.status}>"
