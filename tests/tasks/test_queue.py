"""Jobs reach Redis only after their rows are committed, and a real worker process runs them."""

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.extensions import db
from app.jobs import enqueue_on_commit
from app.models import User
from app.tasks.maintenance import worker_ping
from tests.conftest import queued_jobs

ROOT = Path(__file__).resolve().parents[2]


def _queued(app) -> int:
    return queued_jobs(app, worker_ping.queue_name)


def test_job_is_enqueued_only_when_the_transaction_commits(app):
    db.session.add(User(email="a@example.com"))
    enqueue_on_commit(worker_ping)
    assert _queued(app) == 0  # not before the commit: a worker could not see the row yet
    db.session.commit()
    assert _queued(app) == 1


def test_job_is_dropped_when_the_transaction_rolls_back(app):
    db.session.add(User(email="b@example.com"))
    enqueue_on_commit(worker_ping)
    db.session.rollback()
    db.session.commit()  # a later, empty commit must not resurrect it
    assert _queued(app) == 0


@pytest.mark.services  # RQ's registries
def test_in_process_rq_worker_runs_queued_job(app, run_jobs):
    from rq.registry import FailedJobRegistry, FinishedJobRegistry

    enqueue_on_commit(worker_ping)
    db.session.commit()
    assert run_jobs() == 1
    queue = app.extensions["jobs"].queue(worker_ping.queue_name)
    assert queue.count == 0
    assert FinishedJobRegistry(queue=queue).count == 1
    assert FailedJobRegistry(queue=queue).count == 0


@pytest.mark.services  # worker.py is the RQ worker
def test_real_worker_process_runs_a_job_end_to_end(app, worker_env):
    process = subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=worker_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        result = CliRunner().invoke(
            app.cli, ["worker", "ping", "--timeout", "30"], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        assert "'database': 'ok'" in result.output
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    # HerokuWorker shuts down cleanly on SIGTERM, and its job left one JSON log line.
    assert process.returncode == 0, output
    assert '"event": "job"' in output and '"func": "worker_ping"' in output and '"job_id"' in output
    assert "worker_ping()" not in output  # RQ's own description (all arguments) is not logged


@pytest.mark.services  # `worker ping` asks an RQ worker
def test_worker_ping_fails_clearly_when_no_worker_runs(app):
    result = CliRunner().invoke(app.cli, ["worker", "ping", "--timeout", "1"])
    assert result.exit_code != 0
    assert "no worker answered" in result.output


def test_job_log_lines_keep_ids_but_not_other_arguments(app, run_jobs, capsys, tmp_path):
    from tests.tasks_support import record_email_seen

    user = User(email="c@example.com")
    db.session.add(user)
    db.session.commit()
    secret_path = str(tmp_path / "reset-token-s3cr3t.txt")
    enqueue_on_commit(record_email_seen, user.id, secret_path)
    db.session.commit()
    run_jobs()
    out = capsys.readouterr().out
    job_lines = [line for line in out.splitlines() if '"event": "job"' in line]
    assert job_lines and f'"job_args": [{user.id}, "<str>"]' in job_lines[-1]
    assert "s3cr3t" not in out
