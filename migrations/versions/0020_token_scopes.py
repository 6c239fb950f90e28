"""API token scopes: read, write, analytics (tokens made before keep all three)

Revision ID: 0020_token_scopes
Revises: 0019_reach
Create Date: 2026-11-29 23:11:58

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0020_token_scopes"
down_revision = "0019_reach"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "scopes",
                sa.String(length=64),
                server_default="read write analytics",
                nullable=False,
            )
        )


def downgrade():
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("scopes")
