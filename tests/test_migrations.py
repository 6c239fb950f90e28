"""The migrations, run on empty databases, build exactly what the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from app import create_app
from app.extensions import db
from tests.conftest import make_test_config


def _drift(connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, db.metadata)


def test_postgres_schema_from_migrations_matches_models(app):
    # The session fixture already ran `upgrade()` on a brand-new PostgreSQL database.
    with db.engine.connect() as connection:
        assert _drift(connection) == []


def test_sqlite_upgrade_from_empty_matches_models_and_downgrades(app_config, tmp_path):
    config = {**app_config, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'embedded.db'}"}
    sqlite_app = create_app(make_test_config(**config))
    with sqlite_app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            assert _drift(connection) == []
        downgrade(revision="base")
        with db.engine.connect() as connection:
            tables = set(db.inspect(connection).get_table_names())
        assert tables <= {"alembic_version"}
        db.engine.dispose()
