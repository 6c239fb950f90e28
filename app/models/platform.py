"""Connected platform accounts, the apps we registered on federated instances, and what each
account's avatar and banner slots last received from us."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import EncryptedText, TimestampMixin, UTCDateTime, str_enum


class AccountStatus(enum.StrEnum):
    CONNECTED = "connected"
    EXPIRED = "expired"  # the platform refused our token: the person must reconnect
    REVOKED = "revoked"
    ERROR = "error"
    # A platform without an API (platforms/manual.py): we prepare its files, the person uploads.
    MANUAL = "manual"


class PlatformAccount(TimestampMixin, db.Model):
    __tablename__ = "platform_accounts"
    __table_args__ = (
        # One row per remote account per person; reconnecting updates it.
        UniqueConstraint(
            "user_id", "platform", "instance_url", "remote_id", name="uq_platform_accounts_remote"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    # The instance (Mastodon) or PDS (Bluesky) this account lives on; "" where there is one host.
    instance_url: Mapped[str] = mapped_column(String(255), default="", server_default="")
    remote_id: Mapped[str] = mapped_column(String(255))
    handle: Mapped[str] = mapped_column(String(255))
    access_token: Mapped[str | None] = mapped_column(EncryptedText())
    refresh_token: Mapped[str | None] = mapped_column(EncryptedText())
    # A secret the platform gave us or the person typed (Bluesky's app password).
    secret: Mapped[str | None] = mapped_column(EncryptedText())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    scopes: Mapped[str] = mapped_column(String(255), default="", server_default="")
    status: Mapped[AccountStatus] = mapped_column(
        str_enum(AccountStatus, "account_status"),
        default=AccountStatus.CONNECTED,
        server_default=AccountStatus.CONNECTED.value,
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    # Pushes to one account run one at a time (a token refresh must not race); taken with a
    # conditional UPDATE so it works on both databases and frees itself if a worker dies.
    busy_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    busy_task_id: Mapped[int | None] = mapped_column(Integer)
    # Slots the person does not want this account to get (e.g. ["banner"]): no sync touches them.
    slots_off: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # When the drift watch last read this account's pictures back (its owner's frequency says
    # when it is due again).
    drift_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    slots: Mapped[list[AccountSlot]] = relationship(
        back_populates="account", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def is_connected(self) -> bool:
        """Connected to a platform we push to, with credentials it accepts."""
        return self.status == AccountStatus.CONNECTED

    @property
    def is_usable(self) -> bool:
        """Can be part of a sync: connected, or a manual platform's account."""
        return self.status in (AccountStatus.CONNECTED, AccountStatus.MANUAL)

    def slot(self, name: str) -> AccountSlot | None:
        return next((s for s in self.slots if s.slot == name), None)

    @classmethod
    def owned_by(cls, user_id: int):
        return select(cls).where(cls.user_id == user_id).order_by(cls.platform, cls.id)

    def __repr__(self) -> str:
        return f"<PlatformAccount {self.id} {self.platform} {self.handle}>"


class AccountSlot(db.Model):
    """The bytes an account's avatar or banner last received from us (idempotent pushes)."""

    __tablename__ = "account_slots"
    __table_args__ = (UniqueConstraint("account_id", "slot", name="uq_account_slots_slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("platform_accounts.id", ondelete="CASCADE"), index=True
    )
    slot: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    remote_url: Mapped[str | None] = mapped_column(Text)
    pushed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The drift watch (app/services/sync/drift.py): what it found the last time it read the
    # slot back, for the push whose sha256 is `drift_for` (a newer push makes it stale).
    drift_status: Mapped[str | None] = mapped_column(String(16))  # unchanged / changed / kept
    drift_for: Mapped[str | None] = mapped_column(String(64))
    drift_error: Mapped[str | None] = mapped_column(Text)
    drift_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Their picture: its fingerprint and a thumbnail of it in our storage.
    live_fingerprint: Mapped[str | None] = mapped_column(String(128))
    live_key: Mapped[str | None] = mapped_column(Text)
    # "Keep theirs": the picture the person chose to keep over our push `accepted_for`.
    accepted_fingerprint: Mapped[str | None] = mapped_column(String(128))
    accepted_for: Mapped[str | None] = mapped_column(String(64))

    account: Mapped[PlatformAccount] = relationship(back_populates="slots")


class PlatformApp(TimestampMixin, db.Model):
    """The OAuth client we registered on one federated instance (Mastodon), reused by everyone."""

    __tablename__ = "platform_apps"
    __table_args__ = (
        UniqueConstraint(
            "platform", "instance_url", "redirect_uri", name="uq_platform_apps_instance"
        ),
        Index("ix_platform_apps_lookup", "platform", "instance_url"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    instance_url: Mapped[str] = mapped_column(String(255))
    redirect_uri: Mapped[str] = mapped_column(String(512))
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret: Mapped[str | None] = mapped_column(EncryptedText())
    scopes: Mapped[str] = mapped_column(String(255), default="", server_default="")
    # What the instance publishes about uploads (image_size_limit, …), read at connect time.
    limits: Mapped[dict | None] = mapped_column(JSON)
