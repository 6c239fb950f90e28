"""What the analytics dashboard is made of: raw events for a while, daily counts for good.

No raw IP address is stored anywhere: a visitor is a keyed hash of their address and browser
under a salt that lives one day (analytics_salts), so the same visitor is one visitor within a
day and cannot be followed from one day to the next once the salt is gone.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime


class AnalyticsEvent(db.Model):
    __tablename__ = "analytics_events"
    __table_args__ = (
        Index("ix_analytics_events_user_time", "user_id", "occurred_at"),
        Index("ix_analytics_events_time", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # page_view, link_click, avatar_fetch, banner_fetch, upload, crop_save, sync_task
    kind: Mapped[str] = mapped_column(String(24))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    visitor: Mapped[str | None] = mapped_column(String(32))  # the day's keyed hash, never an IP
    bot: Mapped[bool] = mapped_column(default=False, server_default=false())
    referrer: Mapped[str | None] = mapped_column(String(255))  # the referring host only
    subject: Mapped[str | None] = mapped_column(String(500))  # a link's URL, a platform
    outcome: Mapped[str | None] = mapped_column(String(24))  # a sync task's status
    duration_ms: Mapped[int | None] = mapped_column(Integer)


class DailyCount(db.Model):
    """One day's events of one kind for one person, per subject (and outcome), rebuilt whole
    by the rollup job: re-running a day gives the same rows. Page views are counted twice: in
    total (`page_view`, no subject) and per referring host (`referrer`)."""

    __tablename__ = "analytics_daily"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    subject: Mapped[str] = mapped_column(String(500), primary_key=True, default="")
    outcome: Mapped[str] = mapped_column(String(24), primary_key=True, default="")
    count: Mapped[int] = mapped_column(Integer, default=0)  # people (bots apart)
    uniques: Mapped[int] = mapped_column(Integer, default=0)  # distinct visitors that day
    bots: Mapped[int] = mapped_column(Integer, default=0)


class VisitorSalt(db.Model):
    """The secret a day's visitor hashes are keyed with; deleted after the day is over."""

    __tablename__ = "analytics_salts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    salt: Mapped[str] = mapped_column(String(64))


class FollowerCount(db.Model):
    """Reach: an account's follower count as the platform reported it, at most one a UTC day
    (a second reading the same day replaces the first)."""

    __tablename__ = "follower_counts"
    __table_args__ = (UniqueConstraint("account_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("platform_accounts.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(Integer)
