"""How a person wants their syncs to go: where "sync everywhere" sends things, and whether
making an image current syncs it at once. Which slots each account takes lives on the account
(PlatformAccount.slots_off)."""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import TimestampMixin


class SyncPreferences(TimestampMixin, db.Model):
    __tablename__ = "sync_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # Where a sync without chosen accounts goes. None: every usable account, including ones
    # connected later; a list stays as chosen (ids of deleted accounts simply no longer match).
    default_account_ids: Mapped[list[int] | None] = mapped_column(JSON)
    auto_sync: Mapped[bool] = mapped_column(default=False, server_default=false())
    # How often the drift watch reads their accounts' pictures back: off, daily or hourly.
    drift_watch: Mapped[str] = mapped_column(String(8), default="off", server_default="off")
