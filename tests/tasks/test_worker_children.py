"""A worker killed outright takes its child processes with it (RQ's scheduler would not go)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def children(pid: int) -> set[int]:
    try:
        return {int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except FileNotFoundError:
        return set()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.services
@pytest.mark.skipif(sys.platform != "linux", reason="prctl(PR_SET_PDEATHSIG) is Linux's")
def test_a_worker_killed_with_sigkill_leaves_no_child_running(app, worker_env):
    worker = subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=worker_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while len(children(worker.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # the periodic scheduler and RQ's scheduler
        forked = children(worker.pid)
        assert len(forked) >= 2
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in forked) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in forked if alive(pid)]
    finally:
        if worker.poll() is None:
            worker.kill()
