"""Sign-in identities at OAuth providers (Google, GitHub, Facebook); not platform accounts."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Select, String, UniqueConstraint, false, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import TimestampMixin, UTCDateTime
from app.models.user import User


class OAuthIdentity(TimestampMixin, db.Model):
    """One account at one provider, tied to one user.

    A row with `linked_at` unset is a *pending* link: the provider's verified email matched an
    existing account, which has not proved yet that it wants the link (password or emailed link).
    A pending row never signs anyone in. `link_nonce` makes the emailed link single-use.
    """

    __tablename__ = "oauth_identities"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))  # as the provider verified it
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    link_nonce: Mapped[str | None] = mapped_column(String(64))
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Linked while the account's email was unconfirmed: whoever registered the address may not
    # own it, so proving the address (reset, verification elsewhere, email change) removes it.
    linked_unverified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def is_linked(self) -> bool:
        return self.linked_at is not None

    @classmethod
    def lookup(cls, provider: str, subject: str) -> Select:
        return select(cls).where(cls.provider == provider, cls.subject == subject)

    @classmethod
    def linked_to(cls, user_id: int) -> Select:
        return (
            select(cls)
            .where(cls.user_id == user_id, cls.linked_at.is_not(None))
            .order_by(cls.provider, cls.id)
        )

    def __repr__(self) -> str:
        return f"<OAuthIdentity {self.provider}:{self.subject} user={self.user_id}>"
