"""Personal API tokens: only a hash is stored; the token itself is shown once."""

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, Select, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import TimestampMixin, UTCDateTime
from app.models.user import User


class ApiToken(TimestampMixin, db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # sha256 hex of the whole token; a fast hash is enough because tokens carry 256 bits.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters ("lk_AbCd") so a person can tell their tokens apart in a list.
    display_prefix: Mapped[str] = mapped_column(String(16))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The owner's session_version when the token was made: a later reset or email change moves
    # the user's version on, and token auth refuses tokens from before it.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # What the token may do, space-separated: read (GET), write (everything else), analytics
    # (/api/v1/analytics). Tokens from before scopes existed keep every power they had.
    scopes: Mapped[str] = mapped_column(
        String(64), default="read write analytics", server_default="read write analytics"
    )

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def allows(self, scope: str) -> bool:
        return scope in self.scope_list

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @classmethod
    def owned_by(cls, user_id: int) -> Select:
        return (
            select(cls).where(cls.user_id == user_id).order_by(cls.created_at.desc(), cls.id.desc())
        )

    def __repr__(self) -> str:
        return f"<ApiToken {self.id}>"
