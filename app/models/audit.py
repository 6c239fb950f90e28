"""Security-relevant events: who did what, when, from which (hashed) address."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime


class AuditLog(db.Model):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event: Mapped[str] = mapped_column(String(64), index=True)
    # The trail outlives the account: deleting a user keeps its events, without the link.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # HMAC of the address, never the address itself: enough to correlate, not to locate anyone.
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    # Set when the person was deleted (app/services/accounts/deletion.py): a keyed hash of their
    # email address, so their trail still reads as one person's without saying who.
    subject_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), nullable=False
    )

    def __repr__(self) -> str:
        return f"<AuditLog {self.id} {self.event}>"
