"""The loopback platforms in the foreground, to try connecting and syncing with `make run`:

    .venv/bin/python -m tests.peers.serve x youtube facebook_pages gravatar --port 8800

prints the settings that point this site at them (paste them before `make run`, with
ALLOW_INSECURE_PLATFORM_URLS=1). Each one signs you in as alice without asking.
"""

from __future__ import annotations

import argparse
import contextlib
import time

from tests.peers.facebook_fake import FakeFacebookPages
from tests.peers.gravatar_fake import FakeGravatar
from tests.peers.x_fake import FakeX
from tests.peers.youtube_fake import FakeYouTube

FAKES = {
    "x": ("X", FakeX),
    "youtube": ("YOUTUBE", FakeYouTube),
    "facebook_pages": ("FACEBOOK_PAGES", FakeFacebookPages),
    "gravatar": ("GRAVATAR", FakeGravatar),
}


def settings(prefix: str, fake) -> dict[str, str]:
    key = getattr(fake, "consumer_key", None) or fake.client_id
    secret = getattr(fake, "consumer_secret", None) or fake.client_secret
    return {
        f"{prefix}_CLIENT_ID": key,
        f"{prefix}_CLIENT_SECRET": secret,
        f"{prefix}_API_BASE_URL": fake.url,
        f"{prefix}_AUTH_BASE_URL": fake.url,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Loopback platforms for trying Linkarooie.")
    parser.add_argument("platforms", nargs="+", choices=sorted(FAKES))
    parser.add_argument("--port", type=int, default=0, help="the first port (then +1, +2, …)")
    args = parser.parse_args()
    running = []
    for offset, name in enumerate(args.platforms):
        prefix, fake_class = FAKES[name]
        fake = fake_class(port=args.port + offset if args.port else 0)
        fake.start()
        running.append(fake)
        for setting, value in settings(prefix, fake).items():
            print(f"export {setting}={value}", flush=True)
    print("export ALLOW_INSECURE_PLATFORM_URLS=1", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)
    for fake in running:
        fake.stop()


if __name__ == "__main__":
    main()
