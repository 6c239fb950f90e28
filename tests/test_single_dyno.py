"""One dyno: gunicorn with WEB_RUNS_WORKER=1 also runs an RQ worker and restarts it if it dies."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from click.testing import CliRunner

from tests.peers.ports import start_server

ROOT = Path(__file__).resolve().parents[1]


def _wait_for(predicate, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.2)
    raise AssertionError(message() if callable(message) else message)


def _children(pid: int) -> list[tuple[int, str]]:
    out = subprocess.run(
        ["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True
    )
    return [
        (int(line.split(None, 1)[0]), line.split(None, 1)[1])
        for line in out.stdout.splitlines()
        if line.strip()
    ]


def test_supervisor_restarts_a_child_that_dies_and_stops_on_sigterm(tmp_path):
    marker = tmp_path / "starts"
    child = f"open({str(marker)!r}, 'a').write('x'); import time; time.sleep(0.3)"
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "app.supervisor", sys.executable, "-c", child],
        cwd=ROOT,
        env={**os.environ, "SUPERVISOR_BACKOFF": "0.05"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(
            lambda: marker.exists() and len(marker.read_text()) >= 3, 15, "child was not restarted"
        )
    finally:
        supervisor.send_signal(signal.SIGTERM)
        output, _ = supervisor.communicate(timeout=15)
    assert supervisor.returncode == 0
    assert '"event": "supervisor"' in output and "restarting" in output


def test_gunicorn_supervises_one_worker_and_restarts_it(app, worker_env, tmp_path):
    log = tmp_path / "web.log"

    def start(port: int) -> subprocess.Popen:
        env = {**worker_env, "WEB_RUNS_WORKER": "1", "PORT": str(port), "WEB_CONCURRENCY": "1"}
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
        with log.open("w") as out:
            return subprocess.Popen(
                [*command, "--bind", f"127.0.0.1:{port}", "wsgi:app"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def healthy(port: int) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok
        except requests.RequestException:  # not listening yet, or still booting the app
            return False

    web, _port = start_server(start, healthy, describe=log.read_text)
    runner = CliRunner()
    try:
        result = runner.invoke(app.cli, ["worker", "ping", "--timeout", "30"])
        assert result.exit_code == 0, result.output

        def worker_pid():
            supervisors = [pid for pid, args in _children(web.pid) if "app.supervisor" in args]
            workers = [
                pid for sup in supervisors for pid, args in _children(sup) if "worker.py" in args
            ]
            return workers[0] if workers else None

        first = _wait_for(worker_pid, 10, "no supervised worker process")
        os.kill(first, signal.SIGKILL)
        second = _wait_for(
            lambda: (pid := worker_pid()) and pid != first and pid,
            30,
            lambda: (
                f"worker not restarted; children {_children(web.pid)}; log:\n"
                + "\n".join(
                    line for line in log.read_text().splitlines()[-60:] if '"rq.' not in line
                )
            ),
        )
        assert second != first
        result = runner.invoke(app.cli, ["worker", "ping", "--timeout", "30"])
        assert result.exit_code == 0, result.output
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(30)
    assert not any("app.supervisor" in args for _, args in _children(web.pid))
    # stopping the web process stops its worker too (no orphan left consuming jobs)
    _wait_for(lambda: not Path(f"/proc/{second}").exists(), 10, "the worker outlived gunicorn")
