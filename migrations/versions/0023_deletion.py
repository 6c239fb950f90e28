"""Account deletion: audit rows about a deleted person keep a keyed hash of them, not a link

Revision ID: 0023_deletion
Revises: 0022_exports
Create Date: 2026-11-30 01:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0023_deletion"
down_revision = "0022_exports"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_audit_log_subject_hash", ["subject_hash"], unique=False)


def downgrade():
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_subject_hash")
        batch_op.drop_column("subject_hash")
