"""What the web benchmarks (poll.py, public_page.py) share: gunicorn as the Procfile runs it
on a fresh database, a closed-loop load client (wrk when installed, else Python), the table.

Load: `connections` connections on loopback, closed loop (each connection sends its next request
when the answer arrives), keep-alive as gunicorn's threaded workers allow. wrk runs -t2 with a
Lua script that counts the status codes; the fallback is an asyncio client on raw HTTP/1.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import _harness as harness

WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) codes = {} end
function response(status, headers, body) codes[status] = (codes[status] or 0) + 1 end
function done(summary, latency, requests)
  local merged, parts = {}, {}
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("codes")) do merged[code] = (merged[code] or 0) + n end
  end
  for code, n in pairs(merged) do table.insert(parts, string.format('"%d":%d', code, n)) end
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests":%d,"seconds":%f,"p50_ms":%f,"p99_ms":%f,"errors":%d,"codes":{%s}}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, e.connect + e.read + e.write + e.timeout,
    table.concat(parts, ",")))
end
"""


def arguments(doc: str) -> argparse.ArgumentParser:
    """The options every web benchmark takes; a script adds its own."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--gunicorn-arg", action="append", default=[], help="extra gunicorn argument (diagnosis)"
    )
    return parser


def main(args, redis_name: str, run: Callable) -> None:
    """Fresh database and Redis, the app's environment (LOG_LEVEL=INFO for gunicorn: a JSON line
    per request is part of a request's cost, as in production), then `run`; prints its result
    as the last line."""
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    with harness.workdir() as work, harness.fresh_database() as database_url:
        redis_url = harness.REDIS_URLS[redis_name]
        port = free_port()
        env = harness.bench_env(database_url, redis_url, work, PORT=port)
        env.setdefault("WEB_CONCURRENCY", "2")
        harness.use_env(env)
        env = {**env, "LOG_LEVEL": "INFO"}
        redis = harness.own_redis(redis_url)
        try:
            result = run(args, client, env, work, port)
        finally:
            redis.flushdb()
    print(json.dumps(result))


def start_gunicorn(extra: list[str], env: dict[str, str], work: Path, port: int) -> harness.Child:
    """`gunicorn -c gunicorn.conf.py wsgi:app` with `--bind 127.0.0.1:<port>` added (the config
    file binds every interface), answering /healthz."""
    (work / "logs").mkdir(exist_ok=True)
    command = [
        str(harness.ROOT / ".venv" / "bin" / "gunicorn"),
        "-c",
        "gunicorn.conf.py",
        "--bind",
        f"127.0.0.1:{port}",
        *extra,
        "wsgi:app",
    ]
    server = harness.Child(command, env, work / "logs" / "gunicorn.log")
    if not harness.wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"), timeout=60):
        server.stop()
        raise SystemExit("gunicorn did not answer: " + (work / "logs/gunicorn.log").read_text())
    return server


def measure(client: str, targets, seconds: float) -> dict[str, dict]:
    """Each (name, url, headers, connections) after a 2 s warm-up (every worker booted)."""
    rows = {}
    for name, url, headers, connections in targets:
        load(client, url, headers, connections, 2.0)
        rows[name] = load(client, url, headers, connections, seconds)
        rows[name]["connections"] = connections
    return rows


def print_table(rows: dict[str, dict], env: dict[str, str], client: str, args, work: Path) -> None:
    log = (work / "logs" / "gunicorn.log").read_text(errors="replace")
    workers, threads = env["WEB_CONCURRENCY"], env.get("WEB_THREADS", "4")
    print(f"\ngunicorn: {workers} workers × {threads} threads; client: {client}; ", end="")
    print(f"{args.seconds:g} s each; worker boots: {log.count('Booting worker')}\n")
    print(f"{'target':22} {'conns':>5} {'answers/s':>10} {'p50 ms':>8} {'p99 ms':>8} codes")
    for name, row in rows.items():
        codes = ", ".join(f"{code}×{n}" for code, n in sorted(row["codes"].items()))
        if row["errors"]:
            codes += f", socket errors×{row['errors']}"
        print(
            f"{name:22} {row['connections']:5} {row['rps']:10.0f} {row['p50_ms']:8.2f} "
            f"{row['p99_ms']:8.2f} {codes}"
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    import requests

    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def load(client: str, url: str, headers: dict[str, str], connections: int, seconds: float):
    """{"rps", "p50_ms", "p99_ms", "codes": {"200": n}, "errors"} for one closed-loop run."""
    if client == "wrk":
        return wrk(url, headers, connections, seconds)
    return asyncio.run(python_load(url, headers, connections, seconds))


def wrk(url: str, headers: dict[str, str], connections: int, seconds: float) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    duration = max(1, round(seconds))  # wrk takes whole seconds
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}s"]
    command += ["--timeout", "10s", "-s", script.name]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run([*command, url], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"wrk failed: {done.stdout}{done.stderr}")
    output = done.stdout
    Path(script.name).unlink()
    line = next(line for line in output.splitlines() if line.startswith("WRK "))
    summary = json.loads(line[4:])
    return {
        "rps": summary["requests"] / summary["seconds"],
        "p50_ms": summary["p50_ms"],
        "p99_ms": summary["p99_ms"],
        "codes": summary["codes"],
        "errors": summary["errors"],
    }


async def python_load(url: str, headers: dict[str, str], connections: int, seconds: float):
    """The fallback client: raw HTTP/1.1, keep-alive when the server allows it."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    lines = [f"GET {parts.path} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    latencies: list[float] = []
    codes: dict[str, int] = {}
    errors = 0
    stop = time.perf_counter() + seconds

    async def one_connection() -> None:
        nonlocal errors
        reader = writer = None
        while time.perf_counter() < stop:
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = head.split(b" ", 2)[1].decode()
                length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
                if length:
                    await reader.readexactly(int(length.group(1)))
                latencies.append(time.perf_counter() - started)
                codes[status] = codes.get(status, 0) + 1
                if re.search(rb"(?i)\r\nconnection:\s*close", head):
                    writer.close()
                    reader = writer = None
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
                if writer is not None:
                    writer.close()
                reader = writer = None

    began = time.perf_counter()
    await asyncio.gather(*(one_connection() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    latencies_ms = [1000 * value for value in latencies] or [0.0]
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": harness.percentile(latencies_ms, 50),
        "p99_ms": harness.percentile(latencies_ms, 99),
        "codes": codes,
        "errors": errors,
    }
