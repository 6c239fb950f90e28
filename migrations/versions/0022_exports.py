"""data exports: one zip of everything about a person, one building at a time

Revision ID: 0022_exports
Revises: 0021_image_focus
Create Date: 2026-11-30 01:20:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0022_exports"
down_revision = "0021_image_focus"
branch_labels = None
depends_on = None

RUNNING = sa.text("status IN ('queued', 'building')")


def upgrade():
    op.create_table(
        "data_exports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "building",
                "ready",
                "failed",
                "expired",
                name="export_status",
                native_enum=False,
                length=16,
            ),
            server_default="queued",
            nullable=False,
        ),
        sa.Column("storage_key", sa.String(length=512), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_data_exports_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_exports")),
    )
    with op.batch_alter_table("data_exports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_data_exports_user_id"), ["user_id"], unique=False)
        batch_op.create_index(
            "ix_data_exports_status_expires_at", ["status", "expires_at"], unique=False
        )
        batch_op.create_index(
            "uq_data_exports_running",
            ["user_id"],
            unique=True,
            postgresql_where=RUNNING,
            sqlite_where=RUNNING,
        )


def downgrade():
    with op.batch_alter_table("data_exports", schema=None) as batch_op:
        batch_op.drop_index("uq_data_exports_running")
        batch_op.drop_index("ix_data_exports_status_expires_at")
        batch_op.drop_index(batch_op.f("ix_data_exports_user_id"))
    op.drop_table("data_exports")
