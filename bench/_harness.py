"""What the service benchmarks (sync_chaos.py, poll.py) share: a throwaway PostgreSQL database,
a Redis database of their own, the environment the app reads, and child processes that can be
killed as a whole.

Import this module before anything under `app/`: app.config reads the environment when it is
imported, so `bench_env` must be in os.environ first (`use_env` does that).
"""

from __future__ import annotations

import base64
import contextlib
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_DB_URL = os.environ.get(
    "BENCH_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# Redis database numbers of the benchmarks' own (each flushes its database), one per script so
# the two can run side by side.
REDIS_URLS = {
    "sync_chaos": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
    "poll": os.environ.get("BENCH_POLL_REDIS_URL", "redis://127.0.0.1:6379/15"),
    "public_page": os.environ.get("BENCH_PUBLIC_REDIS_URL", "redis://127.0.0.1:6379/13"),
}
TOKEN_KEYS = "1:" + base64.b64encode(b"bench-token-encryption-key-32by!").decode()


def database_name() -> str:
    return f"linkarooie_bench_{os.getpid()}"


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new PostgreSQL database (dropped at the end, even after a crash); yields its URL."""
    import psycopg

    name = database_name()
    with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(ADMIN_DB_URL, name).replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(ADMIN_DB_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def own_redis(url: str):
    """The benchmark's Redis database, refused unless empty: it is flushed, so it must be ours."""
    from redis import Redis

    client = Redis.from_url(url)
    if client.dbsize():
        raise SystemExit(
            f"{url} holds {client.dbsize()} keys; the benchmark flushes its Redis database, "
            "so point it (BENCH_REDIS_URL / BENCH_POLL_REDIS_URL) at an empty one."
        )
    return client


def bench_env(
    database_url: str, redis_url: str, workdir: Path, **settings: object
) -> dict[str, str]:
    """Environment for the app in this process and in every child (worker, gunicorn)."""
    env = {k: v for k, v in os.environ.items() if k not in {"APP_ENV", "S3_BUCKET"}}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        RATELIMIT_STORAGE_URI=redis_url,
        QUEUE_PREFIX=f"bench-{os.getpid()}:",
        SECRET_KEY="bench-secret-key",
        TOKEN_ENCRYPTION_KEYS=TOKEN_KEYS,
        ALLOW_INSECURE_PLATFORM_URLS="1",  # the platforms are loopback servers
        INSTANCE_PATH=str(workdir / "instance"),
        LOCAL_STORAGE_ROOT=str(workdir / "storage"),
        LOG_LEVEL="WARNING",  # one JSON line per job or request would cost more than the work
        PYTHONUNBUFFERED="1",
    )
    env.update({k: str(v) for k, v in settings.items()})
    return env


def use_env(env: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(env)


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="linkarooie-bench-") as path:
        yield Path(path)


def migrate(app) -> None:
    """`flask db upgrade` on the fresh database."""
    import flask_migrate

    with app.app_context():
        flask_migrate.upgrade(directory=str(ROOT / "migrations"))


class Child:
    """A child process in its own process group, so SIGKILL reaches everything it forked (an RQ
    worker's work horse and periodic scheduler die with it, as on a crashed dyno)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL to the whole group: no cleanup, no "job failed" bookkeeping."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, grace: float = 10) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(grace)
        self.kill()


def wait_until(predicate, timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
