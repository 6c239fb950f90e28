"""What a public page /@<handle> costs under load: gunicorn as the Procfile runs it, on real
PostgreSQL, against a bare endpoint in the same run.

Run: .venv/bin/python bench/public_page.py [--seconds 10] [--connections 64]
(or `make bench-public`, which installs wrk first when it is missing). About 50 s.

Setup: a fresh database `linkarooie_bench_<pid>` (dropped at the end), Redis database 13
(BENCH_PUBLIC_REDIS_URL; refused unless empty, flushed at the end; the app's queues and rate
limits live there), one person with a public profile (bio, location, website, five links) and a
current avatar and banner made by the real image pipeline (run in this process), so the page
carries its srcset, OpenGraph and Twitter tags. `gunicorn -c gunicorn.conf.py wsgi:app` as in
the Procfile (WEB_CONCURRENCY workers, default 2; WEB_THREADS threads each; LOG_LEVEL=INFO, a
JSON line per request, as in production) with `--bind 127.0.0.1:<port>`.

Load: closed loop on loopback, `--connections` connections for `--seconds` each after a 2 s
warm-up, with wrk when installed, else the Python client of bench/poll.py.
  (a) bare:  GET /healthz, a constant JSON body
  (b) page:  GET /@<handle> with no validators, a first-time visitor: every answer a 200
  (c) 304:   GET /@<handle> with If-None-Match, a returning visitor's browser revalidating
The table adds (b) on one connection: the request's own cost, without queueing.

Last line JSON: bare_rps, page_rps (answers per second of (b)), ratio = page_rps / bare_rps,
page_p99_ms (99th percentile latency of (b)). Targets: ratio >= 0.3, page_p99_ms < 50.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _harness as harness  # noqa: E402
from bench import _web as web  # noqa: E402

HANDLE = "PatQuinn"
LINKS = [
    {"label": "Mastodon", "url": "https://mastodon.example/@pat"},
    {"label": "Bluesky", "url": "https://bsky.example/profile/pat"},
    {"label": "Shop", "url": "https://shop.pat.example"},
    {"label": "Newsletter", "url": "https://pat.example/letters"},
    {"label": "Portfolio", "url": "https://pat.example/work"},
]


def parse_args() -> argparse.Namespace:
    parser = web.arguments(__doc__)
    return parser.parse_args()


def main() -> None:
    web.main(parse_args(), "public_page", run)


def run(args, client: str, env: dict[str, str], work: Path, port: int) -> dict:
    from app import create_app

    app = create_app()
    harness.migrate(app)
    with app.app_context():
        public_person()
    server = web.start_gunicorn(args.gunicorn_arg, env, work, port)
    base = f"http://127.0.0.1:{port}"
    try:
        page_url = f"{base}/@{HANDLE}"
        etag = check_page(page_url)
        rows = web.measure(
            client,
            (
                ("bare /healthz", base + "/healthz", {}, args.connections),
                ("page 200", page_url, {}, args.connections),
                ("page 304", page_url, {"If-None-Match": etag}, args.connections),
                ("page 200, 1 conn", page_url, {}, 1),
            ),
            args.seconds,
        )
    finally:
        server.stop()
    web.print_table(rows, env, client, args, work)
    bare, page = rows["bare /healthz"], rows["page 200"]
    if set(page["codes"]) != {"200"}:
        print("WARNING: not every page load was a 200")
    if set(rows["page 304"]["codes"]) != {"304"}:
        print("WARNING: not every revalidation was a 304")
    return {
        "bare_rps": round(bare["rps"]),
        "page_rps": round(page["rps"]),
        "ratio": round(page["rps"] / bare["rps"], 3),
        "page_p99_ms": round(page["p99_ms"], 2),
    }


def public_person() -> None:
    """A public profile with a current avatar and banner, files made by the real pipeline."""
    from app.extensions import db
    from app.models.profile import Profile
    from app.services.accounts.users import create_user
    from app.services.images import library
    from app.tasks.images import process_image
    from tests.images import avatar_jpeg, banner_jpeg

    user = create_user("pat@example.com", "plum-ferry-quartz-lantern-81", name="Pat")
    avatar, _ = library.create_upload(user.id, "avatar", avatar_jpeg(seed=5), "me.jpg")
    banner, _ = library.create_upload(user.id, "banner", banner_jpeg(seed=6), "hills.jpg")
    db.session.add(
        Profile(
            user_id=user.id,
            handle=HANDLE,
            handle_key=HANDLE.lower(),
            display_name="Pat Quinn",
            bio="Illustrator. I draw coastal birds and print them by hand.\nSlow mail welcome.",
            website="https://pat.example",
            location="Lisbon, Portugal",
            links=LINKS,
            public=True,
            shown_fields={},
            indexable=True,
        )
    )
    db.session.commit()
    ids = avatar.id, banner.id
    for image_id in ids:  # the job's own code, here rather than through a worker
        process_image(image_id)
    db.session.expire_all()
    from app.models.image import Image, ImageStatus

    for image_id in ids:
        image = db.session.get(Image, image_id)
        if image.status != ImageStatus.READY or not image.is_current:
            raise SystemExit(f"image {image_id} is {image.status}, current={image.is_current}")


def check_page(url: str) -> str:
    """The page answers with its pictures and tags; its ETag revalidates to a 304."""
    import requests

    first = requests.get(url, timeout=10)
    etag = first.headers.get("ETag")
    if first.status_code != 200 or not etag or 'property="og:image"' not in first.text:
        raise SystemExit(f"the page answered {first.status_code}, ETag {etag!r}")
    again = requests.get(url, headers={"If-None-Match": etag}, timeout=10)
    if again.status_code != 304:
        raise SystemExit(f"revalidating the page answered {again.status_code}, not 304")
    return etag


if __name__ == "__main__":
    main()
