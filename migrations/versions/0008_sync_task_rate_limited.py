"""sync tasks count the platform's 429s apart from failed tries

Revision ID: 0008_sync_task_rate_limited
Revises: 0007_sync
Create Date: 2026-11-29 18:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008_sync_task_rate_limited"
down_revision = "0007_sync"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sync_tasks") as batch_op:
        batch_op.add_column(
            sa.Column("rate_limited", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade():
    with op.batch_alter_table("sync_tasks") as batch_op:
        batch_op.drop_column("rate_limited")
