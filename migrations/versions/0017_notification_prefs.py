"""notification preferences; events remember the mail that told of them

Revision ID: 0017_notification_prefs
Revises: 0016_events
Create Date: 2026-11-29 22:54:06

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0017_notification_prefs"
down_revision = "0016_events"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "type", name=op.f("pk_notification_preferences")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outbox_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_events_outbox_id"), ["outbox_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_events_outbox_id_outbox"),
            "outbox",
            ["outbox_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade():
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_events_outbox_id_outbox"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_events_outbox_id"))
        batch_op.drop_column("outbox_id")

    op.drop_table("notification_preferences")
