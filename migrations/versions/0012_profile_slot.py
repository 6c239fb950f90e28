"""profile text as a third sync slot: the text a release carries

Revision ID: 0012_profile_slot
Revises: 0011_sync_preferences
Create Date: 2026-11-29 22:45:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012_profile_slot"
down_revision = "0011_sync_preferences"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sync_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("profile_text", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("sync_requests", schema=None) as batch_op:
        batch_op.drop_column("profile_text")
