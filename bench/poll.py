"""What a page full of pollers costs: the sync status partial against a bare endpoint, served by
gunicorn as the Procfile runs it, on real PostgreSQL and Redis.

Run: .venv/bin/python bench/poll.py [--seconds 10] [--connections 64] [--profile]
(or `make bench-poll`, which installs wrk first when it is missing). About 45 s.

Setup: a fresh database `linkarooie_bench_<pid>` (flask_migrate.upgrade; dropped at the end),
Redis database 15 (BENCH_POLL_REDIS_URL; refused unless empty, flushed at the end), one person
with a connected account and an unfinished release (two queued tasks; no worker runs, so it
stays unfinished). `gunicorn -c gunicorn.conf.py wsgi:app` as in the Procfile (WEB_CONCURRENCY
workers, default 2, WEB_THREADS threads each; LOG_LEVEL=INFO, one JSON line per request) with
`--bind 127.0.0.1:<port>` added, since the config file binds every interface. The table counts
worker boots: a worker recycled mid-run (`--gunicorn-arg=--max-requests=1000` shows what that
costs) leaves its share of the connections waiting. The person signs in through the form (CSRF
token from the page, session cookie kept); the first GET of /sync/<id>/status gives the ETag.

Load: 64 connections on loopback for `--seconds` each (after a 2 s warm-up), closed loop: each
connection sends its next request when the answer arrives. wrk when installed (-t2, a Lua
script counts the status codes), else a Python asyncio client on raw HTTP/1.1 sockets; both keep
connections alive, as gunicorn's threaded workers allow.
  (a) bare:   GET /healthz, a constant JSON body
  (b) status: GET /sync/<id>/status as the signed-in person, with HX-Request: true and
              If-None-Match: <ETag>, a browser revalidating: every answer must be a 304
The table adds (b) on one connection: the request's own cost, without queueing.

Last line JSON: bare_rps, status_rps (answers per second), ratio = status_rps / bare_rps,
status_p99_ms (99th percentile latency of (b) at 64 connections). Targets: ratio >= 0.5,
status_p99_ms < 20. In a closed loop the mean latency is connections / throughput (Little's
law), so a p99 under 20 ms at 64 connections needs well over 3,200 answers per second.

`--profile` also runs (b) in-process under cProfile (Flask's test client, the same app and
settings) and prints where the time goes.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _harness as harness  # noqa: E402
from bench import _web as web  # noqa: E402

EMAIL, PASSWORD = "poller@example.com", "plum-ferry-quartz-lantern-81"


def parse_args() -> argparse.Namespace:
    parser = web.arguments(__doc__)
    parser.add_argument("--profile", action="store_true", help="cProfile the status request")
    return parser.parse_args()


def main() -> None:
    web.main(parse_args(), "poll", run)


def run(args, client: str, env: dict[str, str], work: Path, port: int) -> dict:
    from app import create_app

    app = create_app()
    harness.migrate(app)
    with app.app_context():
        request_id = unfinished_release()
    server = web.start_gunicorn(args.gunicorn_arg, env, work, port)
    base = f"http://127.0.0.1:{port}"
    try:
        cookie, etag = sign_in_and_poll(base, request_id)
        status_url = f"{base}/sync/{request_id}/status"
        status_headers = {"Cookie": cookie, "HX-Request": "true", "If-None-Match": etag}
        rows = web.measure(
            client,
            (
                ("bare /healthz", base + "/healthz", {}, args.connections),
                ("status 304", status_url, status_headers, args.connections),
                ("status 304, 1 conn", status_url, status_headers, 1),
            ),
            args.seconds,
        )
    finally:
        server.stop()
    web.print_table(rows, env, client, args, work)
    bare, status = rows["bare /healthz"], rows["status 304"]
    if set(status["codes"]) != {"304"}:
        print("WARNING: not every status poll was a 304")
    if args.profile:
        with app.app_context():
            profile(app, request_id)
    return {
        "bare_rps": round(bare["rps"]),
        "status_rps": round(status["rps"]),
        "ratio": round(status["rps"] / bare["rps"], 3),
        "status_p99_ms": round(status["p99_ms"], 2),
    }


def unfinished_release() -> int:
    """One person, one connected account, one release whose two tasks wait (no worker runs)."""
    from app.extensions import db
    from app.models import SyncRequest, SyncTask, TaskStatus
    from app.services.accounts.users import create_user
    from app.services.platforms import connections
    from app.services.platforms.base import Connection

    user = create_user(EMAIL, PASSWORD, name="Poller", verified=True)
    account = connections.save(
        user,
        "mastodon",
        Connection(
            remote_id="1",
            handle="@poller@mastodon.invalid",
            instance_url="https://mastodon.invalid",
            access_token="unused",
            scopes="read:accounts write:accounts",
        ),
    )
    release = SyncRequest(user_id=user.id)
    for slot, preset in (("avatar", "mastodon_avatar"), ("banner", "mastodon_header")):
        release.tasks.append(
            SyncTask(
                user_id=user.id,
                account_id=account.id,
                slot=slot,
                preset_key=preset,
                status=TaskStatus.QUEUED,
            )
        )
    db.session.add(release)
    db.session.commit()
    return release.id


def sign_in_and_poll(base: str, request_id: int) -> tuple[str, str]:
    """Sign in through the form; the Cookie header to send and the status partial's ETag."""
    import requests

    browser = requests.Session()
    page = browser.get(base + "/sign-in", timeout=10)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text)
    if token is None:
        raise SystemExit("no CSRF token on the sign-in page")
    signed_in = browser.post(
        base + "/sign-in",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=10,
    )
    if signed_in.status_code not in (302, 303):
        raise SystemExit(f"sign-in answered {signed_in.status_code}")
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
    url = f"{base}/sync/{request_id}/status"
    first = requests.get(url, headers={"Cookie": cookie, "HX-Request": "true"}, timeout=10)
    etag = first.headers.get("ETag")
    if first.status_code != 200 or not etag:
        raise SystemExit(f"status partial answered {first.status_code}, ETag {etag!r}")
    again = requests.get(
        url, headers={"Cookie": cookie, "HX-Request": "true", "If-None-Match": etag}, timeout=10
    )
    if again.status_code != 304:
        raise SystemExit(f"revalidating the status partial answered {again.status_code}, not 304")
    return cookie, etag


# --- profile ----------------------------------------------------------------------------------


def profile(app, request_id: int, requests: int = 2000) -> None:
    """The 304 poll in-process under cProfile: the 25 heaviest functions by own + callee time."""
    import cProfile
    import pstats

    client = app.test_client()
    page = client.get("/sign-in")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    client.post("/sign-in", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token[1]})
    url = f"/sync/{request_id}/status"
    etag = client.get(url, headers={"HX-Request": "true"}).headers["ETag"]
    headers = {"HX-Request": "true", "If-None-Match": etag}
    assert client.get(url, headers=headers).status_code == 304
    # Log at INFO as gunicorn does, into the void (the app's handler writes to sys.stdout).
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    profiler = cProfile.Profile()
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        started = time.perf_counter()
        profiler.enable()
        for _ in range(requests):
            client.get(url, headers=headers)
        profiler.disable()
    root.setLevel(level)
    per_request = (time.perf_counter() - started) / requests * 1000
    print(f"\nprofile: {requests} in-process 304 polls, {per_request:.2f} ms each under cProfile")
    stats = pstats.Stats(profiler).sort_stats("cumulative")
    stats.print_stats(25)
    print("the app's own functions, and the extensions' request hooks:")
    stats.print_stats(r"/app/|flask_login|flask_wtf|flask_limiter|sessions\.py|keys\.py", 30)


if __name__ == "__main__":
    main()
