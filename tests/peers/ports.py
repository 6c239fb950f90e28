"""Loopback ports for servers the tests start, without a race against the rest of the machine.

Asking the OS for a free port and handing it to a server is a race: between our probe and the
server's bind another process (another test run on the same machine) can take it. The server
then exits, or worse, we talk to someone else's. So: start, wait until *our* process answers,
and if it exited first, start it again on another port.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    start: Callable[[int], subprocess.Popen],
    ready: Callable[[int], bool],
    *,
    timeout: float = 30,
    attempts: int = 5,
    describe: Callable[[], str] = lambda: "",
) -> tuple[subprocess.Popen, int]:
    """`start(port)` a server and wait until `ready(port)` while it is still running.

    A server that exits before it is ready is started again on a fresh port, `attempts` times;
    one that neither answers nor exits within `timeout` seconds is killed and reported.
    """
    for _ in range(attempts):
        port = free_port()
        proc = start(port)
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            if ready(port) and proc.poll() is None:
                return proc, port
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise AssertionError(f"server did not answer in {timeout:.0f}s\n{describe()}")
            time.sleep(0.05)
        # it exited before answering: most often its port was taken; anything else repeats
    raise AssertionError(f"server exited {attempts} times before answering\n{describe()}")
