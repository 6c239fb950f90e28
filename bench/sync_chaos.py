"""Sync engine under chaos: 1,000 tasks through real RQ workers while a worker dies and Redis
is flushed, against loopback Mastodon and Bluesky servers that rate-limit, fail and dawdle.

Run: .venv/bin/python bench/sync_chaos.py [--users 250] [--window 120] [--deadline 600]
(or `make bench-sync`). Needs the PostgreSQL and Redis of `make services`; takes about a minute
of setup plus the run itself.

Setup (before the clock): a fresh database `linkarooie_bench_<pid>` migrated with
flask_migrate.upgrade (dropped at the end); Redis database 14 (BENCH_REDIS_URL; refused unless
empty) for RQ, rate limits and progress stamps; local-disk storage in a temp dir. `--users`
people each upload an avatar and a banner through library.create_upload, and the two workers
process them (they are all ready before the clock starts: the figures are about syncing only).
Each person connects one account on FakeMastodon (a token, as the OAuth flow leaves it) and one
on FakeBluesky (the adapter's own connect: createSession once per account, at setup). Then the
fakes turn nasty: each allows `--limit` image pushes per account per `--window` seconds (fixed
windows aligned to the epoch, as rack-attack counts), answers a random 20 % of pushes with 429
(with reset headers) or 500/502/503 instead, and delays every API request by 0-`--latency` s.

The run: the clock starts just after a rate-limit window opens; each person starts a release
(releases.start, one commit each, as the web does), 4 tasks each, 1,000 tasks in all at the
default 250 people. Two `python worker.py` processes run them (RQ, each with its scheduler and
the periodic reconciler). When a quarter of the tasks have finished, one worker's whole process
group gets SIGKILL (its work horse dies mid-job, leaving a task "running" under a lease) and a
new worker starts; when 60 % have finished, the bench's Redis database is flushed: queued and
scheduled jobs, RQ's registries, rate-limit counters and progress stamps are all gone. FLUSHDB,
not FLUSHALL: FLUSHALL would wipe every database of the shared Redis, other people's included;
on a Redis the app has to itself the two are the same event. Only the reconciler
(RECONCILE_INTERVAL=2 s, STALE_JOB_AFTER=5 s, SYNC_LEASE_SECONDS=10 s here) can bring the lost
work back. SYNC_RETRY_BASE is 2 s (30 s in production) so a 5xx costs seconds, in scale with
the rest.

The figures (last line JSON):
  tasks, succeeded, failed  final task states (failed: gave up after SYNC_MAX_ATTEMPTS, or refused)
  lost               tasks still queued/running/retrying when the run ended (all done or deadline)
  duplicate_pushes   uploads of bytes the account already showed, summed over both fakes
                     (faulted answers store nothing, so only needless uploads count)
  seconds            clock start to the last task's finished_at
  floor_seconds      the least time the servers' rate limits allow: an account takes `--limit`
                     pushes per window and needs P pushes (one per slot, P = 2), so its last
                     push cannot land before window ceil(P / limit) - 1 opens; the clock starts
                     `offset` s into a window, so floor = (ceil(P / limit) - 1) * window - offset.
                     It ignores the workers' own cost; the table shows that separately.
  p95_task_ms        95th percentile over tasks of finished_at - created_at: from the click to
                     the task's end, queueing, turn-taking, rate-limit waits and retries included.
Targets: lost 0, duplicate_pushes 0, seconds <= 2 * floor_seconds.

The default window is 120 s so that the platforms' limits, not the two workers, set the pace:
each run makes about 4,300 platform requests and 1,500 push attempts, which two workers on two
cores (sharing them with PostgreSQL, Redis and both fake servers) take about two minutes of work
to get through whatever the limits. With a short window the run measures that work instead
(2026-11-29 on this machine: `--window 20` took 10x its floor, `--window 60` 3x).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _harness as harness  # noqa: E402

SLOTS_PER_ACCOUNT = 2


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=250, help="people (4 tasks each)")
    parser.add_argument("--limit", type=int, default=1, help="pushes per account per window")
    parser.add_argument("--window", type=float, default=120.0, help="rate-limit window, seconds")
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--latency", type=float, default=0.05, help="max added latency, seconds")
    parser.add_argument("--deadline", type=float, default=600.0, help="give up after, seconds")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep-logs", action="store_true", help="copy worker logs to ./bench-logs")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with harness.workdir() as work, harness.fresh_database() as database_url:
        redis_url = harness.REDIS_URLS["sync_chaos"]
        env = harness.bench_env(
            database_url,
            redis_url,
            work,
            RECONCILE_INTERVAL=2,
            STALE_JOB_AFTER=5,
            SYNC_LEASE_SECONDS=10,
            SYNC_RETRY_BASE=2,
            SWEEP_INTERVAL=86400,
        )
        harness.use_env(env)
        redis = harness.own_redis(redis_url)
        try:
            result = Bench(args, env, work, redis).run()
        finally:
            redis.flushdb()
            if args.keep_logs:
                import shutil

                shutil.copytree(work / "logs", Path("bench-logs"), dirs_exist_ok=True)
    print(json.dumps(result))


class Bench:
    def __init__(self, args, env: dict[str, str], work: Path, redis) -> None:
        from app import create_app

        self.args, self.env, self.work, self.redis = args, env, work, redis
        (work / "logs").mkdir()
        self.app = create_app()
        harness.migrate(self.app)
        self.workers: list[harness.Child] = []
        self.events: list[tuple[float, str]] = []

    def run(self) -> dict:
        from tests.peers.bluesky_fake import FakeBluesky
        from tests.peers.mastodon import FakeMastodon

        mastodon, bluesky = FakeMastodon(users=()), FakeBluesky()
        mastodon.start()
        bluesky.start()
        try:
            with self.app.app_context():
                return self._run(mastodon, bluesky)
        finally:
            for worker in self.workers:
                worker.stop(grace=5)
            mastodon.stop()
            bluesky.stop()

    def _run(self, mastodon, bluesky) -> dict:
        args = self.args
        setup_started = time.monotonic()
        self._start_worker()
        self._start_worker()
        users = self._people(mastodon, bluesky)
        self._wait_for_images()
        setup_seconds = time.monotonic() - setup_started

        for fake, seed in ((mastodon, args.seed), (bluesky, args.seed + 1)):
            fake.rate_limit(args.limit, args.window)
            fake.chaos(args.fault_rate, (0.0, args.latency), seed=seed)
        self.setup_requests = {"mastodon": len(mastodon.requests), "bluesky": len(bluesky.requests)}
        t0, offset = self._window_start()
        self._start_releases(users)
        released = time.time() - t0
        finished = self._watch(t0)
        return self._report(mastodon, bluesky, t0, offset, finished, setup_seconds, released)

    # --- setup ----------------------------------------------------------------------------

    def _start_worker(self) -> None:
        n = len(self.workers) + 1
        log = self.work / "logs" / f"worker-{n}.log"
        self.workers.append(harness.Child([sys.executable, "worker.py"], self.env, log))

    def _people(self, mastodon, bluesky) -> list[int]:
        """Every person with an avatar and a banner uploaded and two connected accounts."""
        from app.extensions import db
        from app.models import User
        from app.services.images import library
        from app.services.platforms import connections, get
        from app.services.platforms.base import Connection
        from tests.images import avatar_jpeg, banner_jpeg

        # A few distinct pictures, shared round-robin: processing is per upload anyway.
        pictures = [
            (avatar_jpeg(400, seed=s), banner_jpeg(1500, 500, seed=s + 50)) for s in range(8)
        ]
        ids = []
        for i in range(self.args.users):
            user = User(email=f"bench{i}@example.com", name=f"Bench {i}")
            db.session.add(user)
            db.session.flush()
            avatar, banner = pictures[i % len(pictures)]
            library.create_upload(user.id, "avatar", avatar)
            library.create_upload(user.id, "banner", banner)
            username = f"user{i}"
            mastodon.add_user(username)
            connections.save(
                user,
                "mastodon",
                Connection(
                    remote_id=mastodon.accounts[username].id,
                    handle=f"@{username}@{mastodon.url.split('//')[1]}",
                    instance_url=mastodon.url,
                    access_token=mastodon.token_for(username, "read:accounts write:accounts"),
                    scopes="read:accounts write:accounts",
                ),
            )
            handle, password = f"user{i}.bench.test", f"app-pass-{i:04d}"
            bluesky.add_account(handle, password)
            form = {"handle": handle, "app_password": password, "service_url": bluesky.url}
            connections.save(user, "bluesky", get("bluesky").connect(form))
            db.session.commit()
            ids.append(user.id)
        return ids

    def _wait_for_images(self) -> None:
        from sqlalchemy import func, select

        from app.extensions import db
        from app.models import Image, ImageStatus

        def ready() -> bool:
            db.session.rollback()
            counts = dict(
                db.session.execute(select(Image.status, func.count()).group_by(Image.status)).all()
            )
            if counts.get(ImageStatus.FAILED):
                raise SystemExit(f"image processing failed: {counts}")
            return counts.get(ImageStatus.READY, 0) == 2 * self.args.users

        if not harness.wait_until(ready, timeout=600, every=0.5):
            raise SystemExit("the workers did not process the uploads in 10 minutes")

    def _window_start(self) -> tuple[float, float]:
        """Sleep until just after a rate-limit window opens: (clock start, seconds into it)."""
        window = self.args.window
        now = time.time()
        time.sleep(window - now % window + 0.05)
        t0 = time.time()
        return t0, t0 % window

    # --- the run --------------------------------------------------------------------------

    def _start_releases(self, users: list[int]) -> None:
        from app.extensions import db
        from app.models import User
        from app.services.sync import releases

        for user_id in users:
            releases.start(db.session.get(User, user_id))
            db.session.commit()  # one click each: the jobs go to Redis on commit

    def _watch(self, t0: float) -> bool:
        """Count states until every task is finished (True) or the deadline passes (False);
        kill a worker at 25 % finished and flush Redis at 60 %."""
        total = 4 * self.args.users
        killed = flushed = False
        while time.time() - t0 < self.args.deadline:
            counts = self._counts()
            done = total - sum(counts.get(s, 0) for s in ("queued", "running", "retrying"))
            if not killed and done >= 0.25 * total:
                # Aim at a push in flight: look closely for a running task for a few seconds.
                running = counts.get("running", 0)
                aim_until = time.time() + 5
                while not running and time.time() < aim_until:
                    time.sleep(0.01)
                    running = self._counts().get("running", 0)
                self.workers[0].kill()
                self._start_worker()
                killed = True
                self._event(t0, f"SIGKILL worker 1 ({running} tasks running), worker 3 started")
            if not flushed and done >= 0.6 * total:
                self.redis.flushdb()
                flushed = True
                self._event(t0, f"Redis flushed ({total - done} tasks unfinished)")
            if done == total:
                return True
            time.sleep(0.25)
        return False

    def _counts(self) -> Counter:
        from sqlalchemy import func, select

        from app.extensions import db
        from app.models import SyncTask

        db.session.rollback()
        rows = db.session.execute(select(SyncTask.status, func.count()).group_by(SyncTask.status))
        return Counter({status.value: n for status, n in rows})

    def _event(self, t0: float, what: str) -> None:
        self.events.append((time.time() - t0, what))
        print(f"  t={time.time() - t0:6.1f}s  {what}", flush=True)

    # --- the figures ----------------------------------------------------------------------

    def _report(self, mastodon, bluesky, t0, offset, finished, setup_seconds, released) -> dict:
        from sqlalchemy import select

        from app.extensions import db
        from app.models import SyncTask
        from app.models.sync import UNFINISHED

        args = self.args
        db.session.rollback()
        tasks = list(db.session.scalars(select(SyncTask)))
        states = Counter(task.status.value for task in tasks)
        lost = sum(task.status in UNFINISHED for task in tasks)
        ends = [task.finished_at for task in tasks if task.finished_at is not None]
        seconds = max(ends).timestamp() - t0 if finished and ends else time.time() - t0
        durations = [
            (task.finished_at - task.created_at).total_seconds() * 1000
            for task in tasks
            if task.finished_at is not None
        ]
        pushes_per_account = SLOTS_PER_ACCOUNT
        floor = (math.ceil(pushes_per_account / args.limit) - 1) * args.window - offset
        fakes = {"mastodon": mastodon, "bluesky": bluesky}
        answers = {name: Counter(p["status"] for p in fake.pushes) for name, fake in fakes.items()}
        attempts = Counter(task.attempts for task in tasks)

        print()
        print(f"setup (people, uploads, processing, connecting): {setup_seconds:.1f} s")
        print(
            f"releases started (clock at {offset:.2f} s into a {args.window:g} s window): "
            f"{released:.1f} s"
        )
        for at, what in self.events:
            print(f"  t={at:6.1f}s  {what}")
        print()
        print(
            f"{'platform':10} {'requests':>8} {'pushes':>7} {'2xx':>6} {'429':>6} {'5xx':>6} "
            f"{'dup':>5}"
        )
        for name, fake in fakes.items():
            a = answers[name]
            ok = sum(n for s, n in a.items() if 200 <= s < 300)
            five = sum(n for s, n in a.items() if s >= 500)
            sent = len(fake.requests) - self.setup_requests[name]
            print(
                f"{name:10} {sent:8} {len(fake.pushes):7} {ok:6} {a[429]:6} {five:6} "
                f"{fake.duplicate_pushes():5}"
            )
        # Each worker runs one job at a time and waits out every request's added latency.
        requests = sum(len(f.requests) - self.setup_requests[n] for n, f in fakes.items())
        waited = requests * args.latency / 2 / 2
        print(f"added latency alone, {requests} requests over 2 workers: ~{waited:.0f} s")
        print()
        print("task states: " + ", ".join(f"{s} {n}" for s, n in sorted(states.items())))
        print("attempts:    " + ", ".join(f"{k}×{n}" for k, n in sorted(attempts.items())))
        if durations:
            print(
                f"task time (finished - created), ms: median {statistics.median(durations):.0f}"
                f", p95 {harness.percentile(durations, 95):.0f}, max {max(durations):.0f}"
            )
        print(
            f"seconds {seconds:.1f} vs floor {floor:.1f} (target <= {2 * floor:.1f})"
            + ("" if finished else "  DEADLINE HIT")
        )
        return {
            "tasks": len(tasks),
            "succeeded": states.get("succeeded", 0),
            "failed": states.get("failed", 0) + states.get("needs_reconnect", 0),
            "lost": lost,
            "duplicate_pushes": mastodon.duplicate_pushes() + bluesky.duplicate_pushes(),
            "seconds": round(seconds, 2),
            "floor_seconds": round(floor, 2),
            "p95_task_ms": round(harness.percentile(durations, 95)) if durations else None,
        }


if __name__ == "__main__":
    main()
