"""The embedded default: no env vars at all gives SQLite, local disk and an in-process worker."""

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.peers.ports import start_server

ROOT = Path(__file__).resolve().parents[1]
CONFIG_VARS = {
    "DATABASE_URL", "REDIS_URL", "S3_BUCKET", "S3_ENDPOINT_URL", "SECRET_KEY", "APP_ENV",
    "MAIL_SERVER", "CDN_BASE_URL", "WEB_RUNS_WORKER", "QUEUE_PREFIX",
}  # fmt: skip


def test_fresh_instance_migrates_and_serves_with_no_configuration(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
    env["INSTANCE_PATH"] = str(tmp_path / "instance")
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    upgrade = subprocess.run(
        [*flask, "db", "upgrade"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    assert (tmp_path / "instance" / "linkarooie.db").exists()

    log = tmp_path / "server.log"

    def start(port: int) -> subprocess.Popen:
        command = [*flask, "run", "--host", "127.0.0.1", "--port", str(port), "--no-reload"]
        with log.open("w") as out:
            return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)

    def answers(port: int) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    server, port = start_server(start, answers, describe=log.read_text)
    base = f"http://127.0.0.1:{port}"
    try:
        assert requests.get(f"{base}/", timeout=5).status_code == 200
        assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
        ready = requests.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "queue": "ok", "storage": "ok"}
    finally:
        server.terminate()
        server.wait(10)
    # The embedded secret key is kept so sessions survive a restart.
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o777 == 0o600


def _embedded_app(tmp_path, app_config):
    """An app on the embedded profile's backends: SQLite, local disk, no Redis."""
    from app import create_app
    from tests.conftest import make_test_config

    config = {
        **app_config,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'embedded.db'}",
        "REDIS_URL": None,
        "S3_BUCKET": None,
        "LOCAL_STORAGE_ROOT": str(tmp_path / "storage"),
    }
    return create_app(make_test_config(**config))


def test_in_process_worker_runs_jobs_after_commit(tmp_path, app_config):
    from app.extensions import db
    from app.jobs import InProcessBackend, enqueue_on_commit
    from app.models import User
    from tests.tasks_support import record_email_seen

    app = _embedded_app(tmp_path, app_config)
    assert isinstance(app.extensions["jobs"], InProcessBackend)
    with app.app_context():
        db.create_all()
        user = User(email="embedded@example.com")
        db.session.add(user)
        db.session.flush()
        enqueue_on_commit(record_email_seen, user.id, str(tmp_path / "seen.txt"))
        db.session.commit()
    deadline = time.monotonic() + 10
    while not (tmp_path / "seen.txt").exists():
        assert time.monotonic() < deadline, "the in-process worker never ran the job"
        time.sleep(0.05)
    # The job ran in its own app context and could read the committed row.
    assert (tmp_path / "seen.txt").read_text() == "embedded@example.com"


def test_an_unthreaded_in_process_backend_runs_jobs_only_when_drained(tmp_path, app_config):
    """What the embedded test pass stands on: run_jobs() decides when jobs run, in its thread."""
    from datetime import timedelta

    from app.extensions import db
    from app.jobs import InProcessBackend, enqueue_on_commit
    from app.models import User
    from tests.tasks_support import record_email_seen

    app = _embedded_app(tmp_path, app_config)
    backend = app.extensions["jobs"] = InProcessBackend(app, threaded=False)
    now, later = tmp_path / "now.txt", tmp_path / "later.txt"
    with app.app_context():
        db.create_all()
        user = User(email="drained@example.com")
        db.session.add(user)
        db.session.flush()
        enqueue_on_commit(record_email_seen, user.id, str(now))
        enqueue_on_commit(record_email_seen, user.id, str(later), delay=timedelta(hours=1))
        db.session.commit()
        assert len(backend.pending()) == 2 and not now.exists()  # nothing runs by itself
        assert app.test_client().get("/healthz").status_code == 200
        assert "reconciler" not in app.extensions  # nor does a reconciler thread start
        assert backend.drain() == 1
    assert now.read_text() == "drained@example.com"
    assert not later.exists() and [f for f, _ in backend.pending()] == [record_email_seen]
