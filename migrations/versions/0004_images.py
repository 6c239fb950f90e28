"""images and image_variants

Revision ID: 0004_images
Revises: 0003_oauth_identities
Create Date: 2026-11-22 02:33:49

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004_images"
down_revision = "0003_oauth_identities"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("avatar", "banner", name="image_kind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("original_key", sa.String(length=512), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("mime", sa.String(length=64), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("filename", sa.String(length=255), server_default="", nullable=False),
        sa.Column("preview_key", sa.String(length=512), nullable=True),
        sa.Column("crop", sa.JSON(), nullable=True),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "uploaded",
                "processing",
                "ready",
                "failed",
                name="image_status",
                native_enum=False,
                length=16,
            ),
            server_default="uploaded",
            nullable=False,
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("is_current", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_images_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
        sa.UniqueConstraint("user_id", "kind", "sha256", name="uq_images_user_kind_sha256"),
    )
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_images_original_key"), ["original_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_images_preview_key"), ["preview_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_images_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            "uq_images_current",
            ["user_id", "kind"],
            unique=True,
            postgresql_where=sa.text("is_current"),
            sqlite_where=sa.text("is_current"),
        )

    op.create_table(
        "image_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("preset_key", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=512), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("mime", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_image_variants_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_image_variants")),
        sa.UniqueConstraint("image_id", "preset_key", name="uq_image_variants_image_preset"),
    )
    with op.batch_alter_table("image_variants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_image_variants_image_id"), ["image_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_image_variants_storage_key"), ["storage_key"], unique=False
        )


def downgrade():
    with op.batch_alter_table("image_variants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_image_variants_storage_key"))
        batch_op.drop_index(batch_op.f("ix_image_variants_image_id"))

    op.drop_table("image_variants")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_images_current",
            postgresql_where=sa.text("is_current"),
            sqlite_where=sa.text("is_current"),
        )
        batch_op.drop_index(batch_op.f("ix_images_user_id"))
        batch_op.drop_index(batch_op.f("ix_images_preview_key"))
        batch_op.drop_index(batch_op.f("ix_images_original_key"))

    op.drop_table("images")
