"""how long a sync task's last platform call and an image's processing took, and indexes for
the admin page's time windows

Revision ID: 0009_ops_durations
Revises: 0008_sync_task_rate_limited
Create Date: 2026-12-02 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009_ops_durations"
down_revision = "0008_sync_task_rate_limited"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sync_tasks") as batch_op:
        batch_op.add_column(sa.Column("push_ms", sa.Integer(), nullable=True))
        batch_op.create_index("ix_sync_tasks_finished_at", ["finished_at"], unique=False)
        batch_op.create_index("ix_sync_tasks_updated_at", ["updated_at"], unique=False)
    with op.batch_alter_table("images") as batch_op:
        batch_op.add_column(sa.Column("processing_ms", sa.Integer(), nullable=True))
        batch_op.create_index("ix_images_processed_at", ["processed_at"], unique=False)


def downgrade():
    with op.batch_alter_table("images") as batch_op:
        batch_op.drop_index("ix_images_processed_at")
        batch_op.drop_column("processing_ms")
    with op.batch_alter_table("sync_tasks") as batch_op:
        batch_op.drop_index("ix_sync_tasks_updated_at")
        batch_op.drop_index("ix_sync_tasks_finished_at")
        batch_op.drop_column("push_ms")
