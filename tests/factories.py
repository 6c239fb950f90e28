"""factory_boy factories: rows for tests, committed through the app's own session.

Passwords are hashed once per test run (Argon2id is slow on purpose), not once per user.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import factory
from factory.alchemy import SQLAlchemyModelFactory

from app.extensions import db
from app.models import User
from app.models.user import Role
from app.services.accounts import passwords

DEFAULT_PASSWORD = "correct horse battery"


@functools.cache
def _hashed(password: str) -> str:
    return passwords.hash_password(password)


class BaseFactory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731  (the app context's session)
        sqlalchemy_session_persistence = "commit"


class UserFactory(BaseFactory):
    """`UserFactory(verified=False, admin=True, password=None)` for the usual variations."""

    class Meta:
        model = User

    class Params:
        password = DEFAULT_PASSWORD
        verified = True
        admin = False

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    name = factory.Faker("first_name")
    password_hash = factory.LazyAttribute(lambda o: _hashed(o.password) if o.password else None)
    role = factory.LazyAttribute(lambda o: Role.ADMIN if o.admin else Role.USER)
    email_verified_at = factory.LazyAttribute(lambda o: datetime.now(UTC) if o.verified else None)
    session_version = 0
