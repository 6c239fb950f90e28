"""The RQ worker: `python worker.py` runs every app queue, with RQ's scheduler for delayed jobs,
and a child process running RQ's cron scheduler for the periodic jobs (app/jobs/periodic.py)."""

import ctypes
import multiprocessing
import os
import signal
import sys

from rq.worker import HerokuWorker

from app import create_app
from app.extensions import db
from app.jobs import RQBackend

MAINTENANCE_SECONDS = 30
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_the_worker() -> None:
    """In every child the worker forks (RQ's scheduler, the periodic scheduler, work horses):
    end when the worker ends. RQ's scheduler process never checks, so a worker killed with
    SIGKILL (a crash the single-dyno supervisor restarts after) would leave it running forever,
    still holding the scheduler lock and a Redis connection."""
    if sys.platform != "linux":
        return
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(1)


class AppWorker(HerokuWorker):
    """HerokuWorker (graceful SIGTERM) whose forked job process never reuses parent sockets."""

    def perform_job(self, *args, **kwargs) -> bool:
        # Runs in the forked work horse: drop pooled connections inherited from the parent.
        db.engine.dispose(close=False)
        return super().perform_job(*args, **kwargs)


def run_periodic(app) -> None:
    """The periodic scheduler's process: forked before the worker opens any connection."""
    from app.jobs.periodic import PeriodicScheduler

    with app.app_context():
        db.engine.dispose(close=False)
    PeriodicScheduler(app).run()


def main() -> None:
    app = create_app()
    backend = app.extensions["jobs"]
    if not isinstance(backend, RQBackend):
        raise SystemExit(
            "REDIS_URL is not set: the embedded default runs jobs inside the web process."
        )
    os.register_at_fork(after_in_child=die_with_the_worker)
    # A process, not a thread: the worker forks a work horse per job, and forking a process
    # with a second thread in it can copy a lock that thread held.
    periodic = multiprocessing.get_context("fork").Process(
        target=run_periodic, args=(app,), name="periodic", daemon=True
    )
    periodic.start()
    try:
        with app.app_context():
            queues = [backend.queue(name) for name in app.config["RQ_QUEUES"]]
            # RQ's description repeats every argument; our own job log line records the ids.
            # Only one worker runs RQ's scheduler (delayed jobs: retries, turn-taking); when it
            # dies, the others try to take its lock over at their maintenance round, every
            # 10 minutes by default. Every 30 s, a takeover follows within ~90 s (lock TTL 61 s).
            worker = AppWorker(
                queues,
                connection=backend.redis,
                log_job_description=False,
                maintenance_interval=MAINTENANCE_SECONDS,
                worker_ttl=app.config["WORKER_TTL"],
            )
            worker.work(with_scheduler=True, logging_level=app.config["LOG_LEVEL"])
    finally:
        periodic.terminate()
        periodic.join(10)


if __name__ == "__main__":
    main()
