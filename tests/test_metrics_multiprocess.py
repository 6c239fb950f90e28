"""/metrics under gunicorn: every worker process counts its own requests, and one scrape,
whichever worker answers it, shows them all (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from tests.metrics_support import Scrape
from tests.peers.ports import start_server

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "multiprocess-scrape-token"
MISSING = "/no-such-page-for-metrics"
REQUESTS = "linkarooie_http_requests_total"


def _workers(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return {int(line) for line in out.stdout.split()}


def _get(port: int, path: str, **headers: str) -> requests.Response:
    # A new connection each time, so the kernel hands requests to either worker.
    return requests.get(
        f"http://127.0.0.1:{port}{path}", headers={"Connection": "close", **headers}, timeout=10
    )


def test_one_scrape_sums_every_gunicorn_worker_and_keeps_a_dead_ones_counts(worker_env, tmp_path):
    log = tmp_path / "web.log"
    env = {k: v for k, v in worker_env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    # gunicorn.conf.py makes its own metrics directory in TMPDIR: here, where the test sees it.
    env.update(METRICS_TOKEN=TOKEN, WEB_CONCURRENCY="2", TMPDIR=str(tmp_path))

    def start(port: int) -> subprocess.Popen:
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
        with log.open("w") as out:
            return subprocess.Popen(
                [*command, "--bind", f"127.0.0.1:{port}", "wsgi:app"],
                cwd=ROOT,
                env={**env, "PORT": str(port)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def healthy(port: int) -> bool:
        try:
            return _get(port, "/healthz").ok
        except requests.RequestException:
            return False

    web, port = start_server(start, healthy, describe=log.read_text)
    try:
        [metrics_dir] = tmp_path.glob("linkarooie-metrics-*")
        # /healthz answers as soon as one worker is up; the second may still be starting.
        deadline = time.monotonic() + 30
        while len(workers := _workers(web.pid)) < 2:
            assert time.monotonic() < deadline, "gunicorn did not start two workers"
            time.sleep(0.1)

        def counted_by() -> set[int]:
            files = metrics_dir.glob("counter_*.db")
            return {int(f.stem.split("_")[1]) for f in files} & workers

        sent = 0
        with ThreadPoolExecutor(8) as pool:
            while counted_by() != workers and sent < 800:
                answers = list(pool.map(lambda _: _get(port, MISSING).status_code, range(16)))
                assert answers == [404] * 16
                sent += 16
        assert counted_by() == workers, "one worker answered every request"

        def scraped() -> float:
            answer = _get(port, "/metrics", Authorization=f"Bearer {TOKEN}")
            assert answer.status_code == 200, log.read_text()
            return Scrape(answer.text).value(REQUESTS, endpoint="unknown", status="404")

        assert [scraped() for _ in range(6)] == [sent] * 6

        # A worker that dies is replaced; what it counted still counts.
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not (len(_workers(web.pid)) == 2 and victim not in _workers(web.pid)):
            assert time.monotonic() < deadline, "gunicorn did not replace the worker"
            time.sleep(0.1)
        assert _get(port, MISSING).status_code == 404
        assert [scraped() for _ in range(6)] == [sent + 1] * 6
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(30)
    assert not metrics_dir.exists()  # the directory it made is gone with it
