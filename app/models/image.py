"""Uploaded images (a row per user, kind and content) and the files made for each platform."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import TimestampMixin, UTCDateTime, str_enum


class ImageKind(enum.StrEnum):
    AVATAR = "avatar"
    BANNER = "banner"


class ImageStatus(enum.StrEnum):
    UPLOADED = "uploaded"  # stored, job queued
    PROCESSING = "processing"  # a worker is making the variants
    READY = "ready"
    FAILED = "failed"


class Image(TimestampMixin, db.Model):
    __tablename__ = "images"
    __table_args__ = (
        # The same person uploading the same bytes for the same slot gets the existing row back.
        UniqueConstraint("user_id", "kind", "sha256", name="uq_images_user_kind_sha256"),
        # At most one current avatar and one current banner per user.
        Index(
            "uq_images_current",
            "user_id",
            "kind",
            unique=True,
            postgresql_where=text("is_current"),
            sqlite_where=text("is_current"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ImageKind] = mapped_column(str_enum(ImageKind, "image_kind"))
    # Keyed per owner (services/images/keys.py): only one person's rows share an object (the same
    # photo as avatar and banner), and no key can be computed from the bytes.
    original_key: Mapped[str] = mapped_column(String(512), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(16))
    mime: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(255), default="", server_default="")
    # An upright, downscaled JPEG of the whole image for the crop editor (made by the job).
    preview_key: Mapped[str | None] = mapped_column(String(512), index=True)
    crop: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Where the subject is (services/images/focus.py), found once by the job on the editor copy:
    # {"x", "y", "w", "h", "source": "face" | "salient"} in upright original pixels, or
    # {"source": "none"}; NULL until looked for. Uncropped images are framed around it.
    focus: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Bumped in SQL on every change that needs new files; a job saves its work only if the
    # revision it was queued for is still the latest (compare-and-set).
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    status: Mapped[ImageStatus] = mapped_column(
        str_enum(ImageStatus, "image_status"),
        default=ImageStatus.UPLOADED,
        server_default=ImageStatus.UPLOADED.value,
    )
    error: Mapped[str | None] = mapped_column(Text)
    is_current: Mapped[bool] = mapped_column(default=False, server_default=false())
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # How long the last successful run took to make the files (the admin page's pipeline).
    processing_ms: Mapped[int | None] = mapped_column(Integer)

    variants: Mapped[list[ImageVariant]] = relationship(
        back_populates="image",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ImageVariant.id",
    )

    @property
    def is_pending(self) -> bool:
        return self.status in (ImageStatus.UPLOADED, ImageStatus.PROCESSING)

    def variant(self, preset_key: str) -> ImageVariant | None:
        return next((v for v in self.variants if v.preset_key == preset_key), None)

    @classmethod
    def owned_by(cls, user_id: int, kind: ImageKind | str | None = None) -> Select:
        query = select(cls).where(cls.user_id == user_id)
        if kind is not None:
            query = query.where(cls.kind == ImageKind(kind))
        return query.order_by(cls.created_at.desc(), cls.id.desc())

    def __repr__(self) -> str:
        return f"<Image {self.id} {self.kind} {self.status}>"


class ImageVariant(db.Model):
    __tablename__ = "image_variants"
    __table_args__ = (
        UniqueConstraint("image_id", "preset_key", name="uq_image_variants_image_preset"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    preset_key: Mapped[str] = mapped_column(String(64))
    # Keyed per owner too: identical output for one person shares one object.
    storage_key: Mapped[str] = mapped_column(String(512), index=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(16))
    mime: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now(), nullable=False
    )

    image: Mapped[Image] = relationship(back_populates="variants")

    def __repr__(self) -> str:
        return f"<ImageVariant {self.image_id}:{self.preset_key}>"
