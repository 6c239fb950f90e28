"""A person's public face beyond the two pictures: names, bio, links, and who may see the page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, false, func, true
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import TimestampMixin, UTCDateTime


class Profile(TimestampMixin, db.Model):
    __tablename__ = "profiles"
    __table_args__ = (
        # Handles are unique whatever their case; the lower-cased copy carries the constraint.
        Index("uq_profiles_handle_key", "handle_key", unique=True),
    )

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    handle: Mapped[str | None] = mapped_column(String(30))
    handle_key: Mapped[str | None] = mapped_column(String(30))
    display_name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    bio: Mapped[str] = mapped_column(Text, default="", server_default="")
    website: Mapped[str] = mapped_column(String(500), default="", server_default="")
    location: Mapped[str] = mapped_column(String(100), default="", server_default="")
    # [{"label": str, "url": str}, …] in the person's order
    links: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    public: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Which fields the public page shows, e.g. {"bio": true, "location": false}
    shown_fields: Mapped[dict[str, bool]] = mapped_column(JSON, default=dict)
    indexable: Mapped[bool] = mapped_column(default=True, server_default=true())


class HandleRedirect(db.Model):
    """A handle someone gave up: /@old redirects to their new handle for a while."""

    __tablename__ = "handle_redirects"

    handle_key: Mapped[str] = mapped_column(String(30), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), nullable=False
    )
