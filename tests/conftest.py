"""Test harness on real services: a fresh PostgreSQL database migrated with `flask db upgrade`,
real Redis for RQ (keys under a per-run prefix), real S3-compatible storage (SeaweedFS).

Each test that uses `app` starts from empty tables, an empty queue and an empty bucket.

`LINKAROOIE_TEST_PROFILE=embedded` runs the same tests on what `make run` gives a newcomer: a
SQLite file migrated the same way, LocalStorage on a temp dir, the in-process job backend (no
Redis; `run_jobs` drains it in the test's thread) and rate limits in memory. A test about
PostgreSQL, Redis or S3 themselves carries `@pytest.mark.services` (or asks for one of their
fixtures, SERVICE_FIXTURES) and is skipped there.

One file on purpose (over 300 lines): pytest finds these fixtures here for every folder, and the
two profiles' setup and cleanup read best side by side.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests
from flask import Flask, g
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from redis import Redis
from sqlalchemy import text

from app import create_app
from app.config import Config
from app.extensions import db
from app.infra import row_security
from app.infra.storage import LocalStorage

pytest_plugins = [
    "tests.peers.seaweed",
    "tests.peers.browser",
    "tests.peers.mail",
    "tests.peers.oidc",
    "tests.peers.fake_providers",
    "tests.peers.platforms",
    "tests.peers.gravatar_fixture",
    "tests.peers.youtube_fixture",
    "tests.peers.facebook_fixture",
    "tests.peers.pds",
    "tests.peers.webhook_receiver",
]

PROFILE = os.environ.get("LINKAROOIE_TEST_PROFILE", "services")
EMBEDDED = PROFILE == "embedded"
if PROFILE not in {"services", "embedded"}:
    raise pytest.UsageError(f"LINKAROOIE_TEST_PROFILE must be services or embedded, not {PROFILE}")
TEST_TOKEN_KEYS = "1:" + "dGVzdC10b2tlbi1lbmNyeXB0aW9uLWtleS0zMmJ5dGU="
SERVICES_ONLY = "about PostgreSQL/Redis/S3 themselves: not part of the embedded profile"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"services: {SERVICES_ONLY} (skipped with LINKAROOIE_TEST_PROFILE=embedded)"
    )


# A test that asks for one of these is about the real servers, marker or not.
SERVICE_FIXTURES = frozenset(
    {"database_url", "redis_client", "s3_server", "s3_storage", "s3_settings", "worker_env"}
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if EMBEDDED:
        skip = pytest.mark.skip(reason=SERVICES_ONLY)
        for item in items:
            fixtures = set(getattr(item, "fixturenames", ()))
            if item.get_closest_marker("services") or fixtures & SERVICE_FIXTURES:
                item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> str:
    return f"linkarooie test profile: {PROFILE}"


ADMIN_DB_URL = os.environ.get(
    "TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RUN_ID = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


# The app connects as its database's owner, as on a managed one-role database (Heroku): not a
# superuser, so the row-level security policies (FORCE ROW LEVEL SECURITY) hold for it.
APP_DB_ROLE = "linkarooie_owner"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A brand-new PostgreSQL database for this run, owned by the app's role, dropped at the end."""
    name = f"linkarooie_test_{RUN_ID}"
    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
        role_exists = conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_DB_ROLE,)
        ).fetchone()
        if not role_exists:
            conn.execute(f"CREATE ROLE {APP_DB_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS")
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}" OWNER {APP_DB_ROLE}')
    admin = urlsplit(_with_database(ADMIN_DB_URL, name))
    yield urlunsplit(admin._replace(netloc=f"{APP_DB_ROLE}@{admin.hostname}:{admin.port or 5432}"))
    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def queue_prefix() -> str:
    return f"lk-test-{RUN_ID}:"


@pytest.fixture(scope="session")
def redis_client(queue_prefix: str) -> Iterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    client.ping()
    yield client
    _delete_prefixed(client, queue_prefix)
    _delete_prefixed(client, "rq:")  # only this run's keys: RQ names them after our queues
    client.close()


def _delete_prefixed(client: Redis, prefix: str) -> None:
    for key in client.scan_iter(match=f"*{prefix}*", count=500):
        if prefix == "rq:" and RUN_ID.encode() not in key:
            continue
        client.delete(key)


class CSRFClient(FlaskClient):
    """A test client that sends a valid CSRF token with every unsafe request, as htmx does.

    Pass `csrf=False` to send none (to prove a route is protected).
    """

    def open(self, *args: Any, csrf: bool = True, **kwargs: Any):
        method = (kwargs.get("method") or "GET").upper()
        if csrf and method not in {"GET", "HEAD", "OPTIONS"}:
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", self.csrf_token())
            kwargs["headers"] = headers
        # The test keeps one app context pushed, which Flask reuses for each request; drop
        # Flask-Login's per-request cache so two clients never see each other's user.
        g.pop("_login_user", None)
        return super().open(*args, **kwargs)

    def csrf_token(self) -> str:
        app = self.application
        with self.session_transaction() as session:
            raw = session.get("csrf_token")
            if raw is None:
                raw = session["csrf_token"] = uuid.uuid4().hex
        return URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(raw)


def make_test_config(**overrides: Any) -> type[Config]:
    return type(
        "TestConfig",
        (Config,),
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "TOKEN_ENCRYPTION_KEYS": TEST_TOKEN_KEYS,
            # The platforms the tests talk to are loopback servers.
            "ALLOW_INSECURE_PLATFORM_URLS": True,
            # A test changes a profile and looks at /@handle at once; the cache has its own test.
            "PUBLIC_PAGE_CACHE_SECONDS": 0,
            **overrides,
        },
    )


@pytest.fixture(scope="session")
def app_config(request: pytest.FixtureRequest, queue_prefix, tmp_path_factory) -> dict[str, Any]:
    """The settings the test app runs with; also what a subprocess worker gets as env vars."""
    if EMBEDDED:
        root = tmp_path_factory.mktemp("embedded")
        return {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{root / 'linkarooie.db'}",
            "REDIS_URL": None,
            "QUEUE_PREFIX": queue_prefix,
            "RATELIMIT_STORAGE_URI": "memory://",
            "S3_BUCKET": None,
            "S3_ENDPOINT_URL": None,
            "LOCAL_STORAGE_ROOT": str(root / "storage"),
        }
    database_url = request.getfixturevalue("database_url")
    s3_server = request.getfixturevalue("s3_server")
    bucket = f"lk-test-{RUN_ID.replace('_', '-')}"
    return {
        "SQLALCHEMY_DATABASE_URI": database_url.replace(
            "postgresql://", "postgresql+psycopg://", 1
        ),
        "REDIS_URL": REDIS_URL,
        "QUEUE_PREFIX": queue_prefix,
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": queue_prefix + "limits",
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": s3_server.endpoint_url,
        "S3_REGION": s3_server.region,
        "S3_ACCESS_KEY_ID": s3_server.access_key_id,
        "S3_SECRET_ACCESS_KEY": s3_server.secret_access_key,
        "S3_ADDRESSING_STYLE": "path",
        "LOCAL_STORAGE_ROOT": str(tmp_path_factory.mktemp("storage")),
    }


@pytest.fixture(scope="session")
def _app(request: pytest.FixtureRequest, app_config) -> Iterator[Flask]:
    from flask_migrate import upgrade

    app = create_app(make_test_config(**app_config))
    app.test_client_class = CSRFClient
    if not EMBEDDED:
        request.getfixturevalue("redis_client")
        app.extensions["storage"].ensure_bucket()
    with app.app_context():
        upgrade(
            revision="heads"
        )  # the real migrations, on an empty database: they must stay honest
    app.extensions["test_limiter_state"] = _limiter_state()
    yield app
    with app.app_context():
        db.engine.dispose()


# Flask-Limiter keeps one storage per Limiter, and `limiter` is shared: every create_app() in a
# test rebinds it to that app's storage. Each test puts the session app's back.
_LIMITER_STATE = ("_storage", "_limiter", "_key_prefix")


def _limiter_state() -> dict[str, Any]:
    from app.extensions import limiter

    return {name: getattr(limiter, name) for name in _LIMITER_STATE}


@pytest.fixture
def app(request: pytest.FixtureRequest, _app: Flask, queue_prefix: str) -> Iterator[Flask]:
    """The app with an app context pushed; tables, queues and storage are emptied afterwards."""
    from app.extensions import limiter
    from app.jobs import InProcessBackend

    def use_the_session_apps_limits() -> None:
        for name, value in _app.extensions["test_limiter_state"].items():
            setattr(limiter, name, value)

    use_the_session_apps_limits()

    redis_client = None if EMBEDDED else request.getfixturevalue("redis_client")
    if EMBEDDED:
        # An empty queue whose jobs wait for run_jobs(), which runs them in the test's thread:
        # no race with a worker thread, no reconciler thread writing to the database mid-test.
        _app.extensions["jobs"] = InProcessBackend(_app, threaded=False)
    # Test code arranges and inspects every person's rows; the requests it makes scope
    # themselves as the app does (app/infra/row_security.py).
    scope = row_security.start(bypass="tests")
    with _app.app_context():
        yield _app
        db.session.remove()
        _truncate_all()
    row_security.finish(scope)
    _app.extensions.pop("analytics", None)  # buffered events and the cached salt go with the rows
    use_the_session_apps_limits()
    if EMBEDDED:
        limiter.reset()
        _empty_directory(Path(_app.config["LOCAL_STORAGE_ROOT"]))
    else:
        _delete_prefixed(redis_client, queue_prefix)
        _delete_prefixed(redis_client, queue_prefix.replace(":", "_"))  # job ids carry it too
        _empty_bucket(_app.extensions["storage"])


def _truncate_all() -> None:
    existing = set(db.inspect(db.engine).get_table_names())
    tables = [t.name for t in db.metadata.sorted_tables if t.name in existing]
    if not tables:
        return
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "sqlite":
            # No TRUNCATE: delete children first; ids restart because SQLite reuses max(id) + 1.
            for name in reversed(tables):
                conn.execute(text(f'DELETE FROM "{name}"'))
        else:
            quoted = ", ".join(f'"{name}"' for name in tables)
            conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))


def _empty_directory(root: Path) -> None:
    if root.is_dir():
        for child in root.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()


def _empty_bucket(storage) -> None:
    client = getattr(storage, "client", None)
    if client is None:
        return
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket):
        if keys := [{"Key": obj["Key"]} for obj in page.get("Contents", [])]:
            client.delete_objects(Bucket=storage.bucket, Delete={"Objects": keys})


@pytest.fixture
def client(app: Flask) -> CSRFClient:
    return app.test_client()


@pytest.fixture
def local_storage(app: Flask, tmp_path: Path) -> Iterator[LocalStorage]:
    """Swap the app's storage for the embedded LocalStorage (served by /media) for one test."""
    previous = app.extensions["storage"]
    storage = LocalStorage(tmp_path / "storage", app.config["LOCAL_STORAGE_URL"])
    app.extensions["storage"] = storage
    yield storage
    app.extensions["storage"] = previous


@pytest.fixture
def run_jobs(app: Flask):
    """Run every queued job (and whatever those jobs queue) with a real RQ worker, in-process."""
    from rq import SimpleWorker

    class CountingWorker(SimpleWorker):
        performed = 0

        def perform_job(self, *args, **kwargs) -> bool:
            self.performed += 1
            return super().perform_job(*args, **kwargs)

    def run(*, scheduled: bool = False) -> int:
        """Returns how many jobs ran (succeeded or failed). `scheduled`: also the delayed jobs
        that are due now (RQ's scheduler moves them first), as a live worker would."""
        backend = app.extensions["jobs"]
        if EMBEDDED:
            ran = backend.drain()
            db.session.expire_all()  # the jobs wrote through their own sessions: reload rows
            return ran
        queues = [backend.queue(name) for name in app.config["RQ_QUEUES"]]
        worker = CountingWorker(queues, connection=backend.redis)
        # Jobs get their own app context, hence their own session, as in a real worker; the
        # test's session then reloads what they wrote.
        with app.app_context():
            worker.work(burst=True, with_scheduler=scheduled)
        db.session.expire_all()
        return worker.performed

    return run


def fetch_stored(client: FlaskClient, url: str) -> SimpleNamespace:
    """GET a storage URL the app handed out: S3's presigned URL over HTTP, or the embedded
    /media path through the app; the answer has status_code, headers and content."""
    if url.startswith("/"):
        response = client.get(url)
        return SimpleNamespace(
            status_code=response.status_code, headers=response.headers, content=response.data
        )
    response = requests.get(url, timeout=10)
    return SimpleNamespace(
        status_code=response.status_code, headers=response.headers, content=response.content
    )


def queued_jobs(app: Flask, queue: str) -> int:
    """How many jobs wait on `queue`, on either profile's backend."""
    backend = app.extensions["jobs"]
    if EMBEDDED:
        return sum(1 for func, _ in backend.pending() if func.queue_name == queue)
    return backend.queue(queue).count


def queued_job_ids(app: Flask, queue: str) -> list[str]:
    """The ids of the jobs due on `queue`, in queue order, on either profile's backend."""
    backend = app.extensions["jobs"]
    if EMBEDDED:
        return [
            backend.job_id(func, args)
            for func, args in backend.pending(due_only=True)
            if func.queue_name == queue
        ]
    return backend.queue(queue).job_ids


def scheduled_jobs(app: Flask, queue: str) -> int:
    """How many jobs on `queue` wait for a later time (RQ's scheduler, or the in-process heap)."""
    backend = app.extensions["jobs"]
    if EMBEDDED:
        ours = [func for func, _ in backend.pending() if func.queue_name == queue]
        due = [func for func, _ in backend.pending(due_only=True) if func.queue_name == queue]
        return len(ours) - len(due)
    return backend.queue(queue).scheduled_job_registry.count


def empty_queues(app: Flask) -> None:
    """Drop every waiting job, as if Redis had been flushed (or the process restarted)."""
    backend = app.extensions["jobs"]
    if EMBEDDED:
        backend.clear()
    else:
        for name in app.config["RQ_QUEUES"]:
            backend.queue(name).empty()


@pytest.fixture
def worker_env(app_config) -> dict[str, str]:
    """Environment for a real `python worker.py` process against the same services."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update({k: str(v) for k, v in app_config.items() if not k.startswith("SQLALCHEMY")})
    env["DATABASE_URL"] = app_config["SQLALCHEMY_DATABASE_URI"]
    env["SECRET_KEY"] = "test-secret-key"
    env["TOKEN_ENCRYPTION_KEYS"] = TEST_TOKEN_KEYS
    env["ALLOW_INSECURE_PLATFORM_URLS"] = "1"
    return env


DEFAULT_PASSWORD = "correct horse battery"


@pytest.fixture
def make_user(app: Flask):
    """Create and commit a user: make_user(email=, password=, name=, verified=, admin=)."""
    from app.services.accounts.users import create_user

    def make(
        email: str = "alice@example.com",
        password: str | None = DEFAULT_PASSWORD,
        name: str = "Alice",
        verified: bool = True,
        admin: bool = False,
    ):
        user = create_user(email, password, name=name, verified=verified, admin=admin)
        db.session.commit()
        return user

    return make


@pytest.fixture
def login(client: CSRFClient):
    """Sign `client` in through the real sign-in form (POST /sign-in); asserts it worked."""

    def sign_in(user, password: str = DEFAULT_PASSWORD, remember: bool = False):
        data = {"email": user.email, "password": password}
        if remember:
            data["remember"] = "y"
        response = client.post("/sign-in", data=data)
        assert response.status_code == 302, f"sign-in failed ({response.status_code})"
        with client.session_transaction() as session:
            assert session.get("_user_id", "").split(":")[0] == str(user.id)
        return response

    return sign_in
