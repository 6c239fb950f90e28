"""The person behind an account."""

import enum
import unicodedata
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, Enum, Integer, Select, String, select
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import TimestampMixin, UTCDateTime


class Role(enum.StrEnum):
    USER = "user"
    ADMIN = "admin"


def normalize_email(email: str) -> str:
    """The one spelling of an address used for lookups and rate-limit keys: NFKC folds
    compatibility forms (full-width "ｅxample.com" is "example.com"), then trim and lower-case."""
    return unicodedata.normalize("NFKC", email).strip().lower()


class User(UserMixin, TimestampMixin, db.Model):
    __tablename__ = "users"
    # Emails are stored lower-cased, so a plain unique constraint makes them case-insensitive.
    __table_args__ = (CheckConstraint("email = lower(email)", name="email_lowercase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(120), default="", server_default="")
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e]),
        default=Role.USER,
        server_default=Role.USER.value,
    )
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Part of the id Flask-Login keeps in the session and remember cookie: bumping it (password
    # reset or change) signs the user out everywhere, because old cookies no longer match. API
    # tokens carry the version they were made under and stop working when it moves on.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # IANA zone name the person sees and enters scheduled times in; None: not chosen yet (UTC).
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # The server-side session (UserSession.key) this request was loaded with, if any; not a column.
    session_key = None  # str | None; not mapped: set per request by security.load_user

    @property
    def is_verified(self) -> bool:
        return self.email_verified_at is not None

    def get_id(self) -> str:
        """ "<id>:<session version>:<session key>", kept by Flask-Login in the session and the
        remember cookie. The user id stays first; the key ties both cookies to one
        server-side session, so signing out (revoking it) refuses copies of either."""
        base = f"{self.id}:{self.session_version}"
        return f"{base}:{self.session_key}" if self.session_key else base

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @classmethod
    def by_email(cls, email: str) -> Select:
        return select(cls).where(cls.email == normalize_email(email))

    def __repr__(self) -> str:
        return f"<User {self.id}>"
