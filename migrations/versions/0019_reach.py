"""reach: follower counts per account per day

Revision ID: 0019_reach
Revises: 0018_webhooks
Create Date: 2026-11-29 22:53:27

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0019_reach"
down_revision = "0018_webhooks"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "follower_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["platform_accounts.id"],
            name=op.f("fk_follower_counts_account_id_platform_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follower_counts")),
        sa.UniqueConstraint("account_id", "day", name=op.f("uq_follower_counts_account_id")),
    )


def downgrade():
    op.drop_table("follower_counts")
