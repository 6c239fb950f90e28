"""Keep one child process alive: the single-dyno web process runs its RQ worker this way.

Run as its own process (`python -m app.supervisor CMD...`), started by gunicorn's master: a
thread inside the master would fork while gunicorn forks and reaps its own workers, and a
child forked at the wrong moment can hang the restart.
"""

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

log = logging.getLogger(__name__)


class ProcessSupervisor:
    """Start `command`, restart it whenever it exits, back off when it keeps crashing."""

    def __init__(
        self, command: Sequence[str], *, min_backoff: float = 1.0, max_backoff: float = 30.0
    ):
        self.command = list(command)
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        self.stopping = False

    def run(self) -> None:
        backoff = self.min_backoff
        while not self.stopping:
            started = time.monotonic()
            self.process = subprocess.Popen(self.command, start_new_session=True)
            log.info("worker started", extra={"event": "supervisor", "pid": self.process.pid})
            code = self.process.wait()
            self._kill_group(self.process)
            if self.stopping:
                return
            # A worker that ran for a while earned a fast restart; one that dies at once backs off.
            ran_for = time.monotonic() - started
            backoff = self.min_backoff if ran_for > 60 else min(backoff * 2, self.max_backoff)
            self.restarts += 1
            log.warning(
                "worker exited with %s; restarting in %.0fs",
                code,
                backoff,
                extra={"event": "supervisor", "exit_code": code, "restarts": self.restarts},
            )
            time.sleep(backoff)

    def stop(self, *_signal_args) -> None:
        """Ask the worker to finish (HerokuWorker finishes or requeues its job on SIGTERM)."""
        self.stopping = True
        if self.process and self.process.poll() is None:
            self.process.terminate()

    @staticmethod
    def _kill_group(process: subprocess.Popen) -> None:
        # An RQ worker forks a scheduler and a work horse; if the worker died hard they are
        # orphans that keep the scheduler lock, so clear the whole group before restarting.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def main(argv: Sequence[str]) -> None:
    from app.logconfig import configure_logging

    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    supervisor = ProcessSupervisor(
        argv, min_backoff=float(os.environ.get("SUPERVISOR_BACKOFF", "1"))
    )
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    supervisor.run()


if __name__ == "__main__":
    main(sys.argv[1:] or [sys.executable, "worker.py"])
