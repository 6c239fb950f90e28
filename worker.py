"""The RQ worker: `python worker.py` runs every app queue, with the scheduler, in an app context."""

from rq.worker import HerokuWorker

from app import create_app
from app.extensions import db
from app.jobs import RQBackend


class AppWorker(HerokuWorker):
    """HerokuWorker (graceful SIGTERM) whose forked job process never reuses parent sockets."""

    def perform_job(self, *args, **kwargs) -> bool:
        # Runs in the forked work horse: drop pooled connections inherited from the parent.
        db.engine.dispose(close=False)
        return super().perform_job(*args, **kwargs)


def main() -> None:
    app = create_app()
    backend = app.extensions["jobs"]
    if not isinstance(backend, RQBackend):
        raise SystemExit(
            "REDIS_URL is not set: the embedded default runs jobs inside the web process."
        )
    from app.tasks.maintenance import Reconciler

    Reconciler(app).start()
    with app.app_context():
        queues = [backend.queue(name) for name in app.config["RQ_QUEUES"]]
        # RQ's description repeats every argument (a mail body with a sign-in link); our own
        # job log line records the safe ones.
        worker = AppWorker(queues, connection=backend.redis, log_job_description=False)
        worker.work(with_scheduler=True, logging_level=app.config["LOG_LEVEL"])


if __name__ == "__main__":
    main()
