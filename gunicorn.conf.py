"""gunicorn settings. With WEB_RUNS_WORKER=1 the master also supervises one RQ worker (one dyno)."""

import os
import subprocess
import sys

from app.config import env_bool

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


def on_exit(server):
    if _supervisor is not None and _supervisor.poll() is None:
        _supervisor.terminate()
        try:
            _supervisor.wait(30)
        except subprocess.TimeoutExpired:
            _supervisor.kill()
