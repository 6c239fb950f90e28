"""gunicorn settings. With WEB_RUNS_WORKER=1 the master also supervises one RQ worker (one dyno)."""

import os
import shutil
import subprocess
import sys
import tempfile

# Each worker process counts its own HTTP metrics; in prometheus-client's multiprocess mode they
# write them to files in one directory, which a scrape of any worker merges. prometheus-client
# picks the mode when it is imported, so the directory must be in the environment before the
# app is loaded (preload_app), hence here, before anything else. A fresh one per start: files
# left by an earlier run would be counted again. (Read once: a config reload keeps it.)
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="linkarooie-metrics-")
    os.environ["LINKAROOIE_OWN_METRICS_DIR"] = os.environ["PROMETHEUS_MULTIPROC_DIR"]

from app.config import env_bool  # noqa: E402  (after the metrics directory is set)

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads: requests mostly wait on PostgreSQL and Redis, and a thread keeps a client's
# connection alive between polls instead of a new TCP handshake for each.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
# No periodic recycling: under polling load, recycling every N requests restarted a worker every
# second or two and each restart cost the slowest 1 % of answers (bench/poll.py: p99 1.3 s at
# N=1000, 42 ms at N=20000, 14 ms with none). To guard against a slow leak anyway, set e.g.
# GUNICORN_CMD_ARGS="--max-requests 50000 --max-requests-jitter 5000".
max_requests = 0
# The app is imported once in the master and forked: a worker that dies (or is recycled) is
# serving again in milliseconds instead of re-importing everything (about a second) while
# requests queue behind it. Nothing in create_app opens a connection that a fork would share.
preload_app = True
accesslog = None  # the app logs one JSON line per request itself
timeout = 30

_supervisor: subprocess.Popen | None = None


def when_ready(server):
    global _supervisor
    if env_bool("WEB_RUNS_WORKER") and os.environ.get("REDIS_URL"):
        _supervisor = subprocess.Popen(
            [sys.executable, "-m", "app.supervisor", sys.executable, "worker.py"]
        )
        server.log.info(
            "supervising one RQ worker (WEB_RUNS_WORKER=1), supervisor pid %s", _supervisor.pid
        )


def post_fork(server, worker):
    # Belt and braces: a pooled database connection made in the master must not be shared.
    from app.extensions import db
    from wsgi import app

    with app.app_context():
        db.engine.dispose(close=False)


def child_exit(server, worker):
    # A dead worker's counters stay in its files (they still count); only its live gauges go.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _supervisor is not None and _supervisor.poll() is None:
        _supervisor.terminate()
        try:
            _supervisor.wait(30)
        except subprocess.TimeoutExpired:
            _supervisor.kill()
    own = os.environ.get("LINKAROOIE_OWN_METRICS_DIR")
    if own and own == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(own, ignore_errors=True)
