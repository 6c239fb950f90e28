"""Row-level security on every table holding a person's data (PostgreSQL only)

Revision ID: 0024_row_level_security
Revises: 0023_deletion
Create Date: 2026-11-30 01:20:00

A row is visible when it belongs to the transaction's `app.user_id`, or when the transaction
bypasses (`app.bypass = on`, set by app/infra/row_security.py and logged there). FORCE makes the
policies hold for the tables' owner, the role the app connects as. Rows of child tables follow
their parent's visibility through EXISTS on the parent, which is itself filtered.
SQLite has no row-level security: nothing to do there.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0024_row_level_security"
down_revision = "0023_deletion"
branch_labels = None
depends_on = None

BYPASS = "linkarooie_bypass"
VISIBLE = "linkarooie_row_visible"

# table -> the column holding the owner's users.id
OWNED = {
    "users": "id",
    "profiles": "user_id",
    "handle_redirects": "user_id",
    "images": "user_id",
    "sync_requests": "user_id",
    "sync_tasks": "user_id",
    "scheduled_releases": "user_id",
    "platform_accounts": "user_id",
    "sync_preferences": "user_id",
    "notification_preferences": "user_id",
    "api_tokens": "user_id",
    "user_sessions": "user_id",
    "oauth_identities": "user_id",
    "audit_log": "user_id",
    "outbox": "user_id",
    "events": "user_id",
    "webhook_endpoints": "user_id",
    "analytics_events": "user_id",
    "analytics_daily": "user_id",
    "data_exports": "user_id",
}
# table -> (its column, the parent table, the parent's key)
CHILDREN = {
    "image_variants": ("image_id", "images", "id"),
    "account_slots": ("account_id", "platform_accounts", "id"),
    "follower_counts": ("account_id", "platform_accounts", "id"),
    "webhook_deliveries": ("endpoint_id", "webhook_endpoints", "id"),
    "webhook_attempts": ("delivery_id", "webhook_deliveries", "id"),
}


def _protect(table: str, condition: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY owner_only ON {table} USING ({condition}) WITH CHECK ({condition})")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    # One place for the rule; plain SQL functions are inlined into each policy by the planner.
    # Their bodies name only built-ins: a body is parsed with the caller's search_path, which
    # pg_dump empties (policies themselves keep the functions they name, whatever the path).
    op.execute(
        f"""
        CREATE FUNCTION {BYPASS}() RETURNS boolean LANGUAGE sql STABLE AS $$
            SELECT coalesce(current_setting('app.bypass', true), '') = 'on'
        $$
        """
    )
    op.execute(
        f"""
        CREATE FUNCTION {VISIBLE}(owner_id integer) RETURNS boolean LANGUAGE sql STABLE AS $$
            SELECT coalesce(current_setting('app.bypass', true), '') = 'on'
                OR owner_id = nullif(current_setting('app.user_id', true), '')::integer
        $$
        """
    )
    for table, column in OWNED.items():
        _protect(table, f"{VISIBLE}({column})")
    for table, (column, parent, key) in CHILDREN.items():
        exists = f"EXISTS (SELECT 1 FROM {parent} p WHERE p.{key} = {table}.{column})"
        _protect(table, f"{BYPASS}() OR {exists}")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in (*CHILDREN, *OWNED):
        op.execute(f"DROP POLICY owner_only ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(f"DROP FUNCTION {VISIBLE}(integer)")
    op.execute(f"DROP FUNCTION {BYPASS}()")
