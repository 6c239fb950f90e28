"""Signed-in sessions, kept on the server so signing out really ends them.

The browser's session and remember cookies carry a random key; only its sha256 is stored. A
session is live while `revoked_at` is unset: signing out, "sign out everywhere else", a password
reset or an email change sets it, and cookies copied before then are refused.
"""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Select, String, false, select
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import TimestampMixin, UTCDateTime


class UserSession(TimestampMixin, db.Model):
    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    method: Mapped[str] = mapped_column(String(32), default="password", server_default="password")
    remember: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    user_agent: Mapped[str] = mapped_column(String(255), default="", server_default="")
    # HMAC of the address (app.keys IP_HASH), never the address itself.
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def active_of(cls, user_id: int) -> Select:
        return (
            select(cls)
            .where(cls.user_id == user_id, cls.revoked_at.is_(None))
            .order_by(cls.last_seen_at.desc(), cls.id.desc())
        )

    def __repr__(self) -> str:
        return f"<UserSession {self.id} user={self.user_id}>"
