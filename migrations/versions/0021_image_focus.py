"""Images: where the subject is (a face or the salient region), for the first crop

Revision ID: 0021_image_focus
Revises: 0020_token_scopes
Create Date: 2026-11-30 01:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0021_image_focus"
down_revision = "0020_token_scopes"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("focus", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_column("focus")
