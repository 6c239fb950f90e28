"""Helpers shared by the browser tests: signing in, waiting on page conditions, slow networks."""

from __future__ import annotations

import io
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image as PILImage
from PIL import ImageStat

from tests.conftest import DEFAULT_PASSWORD


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/sign-in")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*(?<!sign-in)$"))


def throttle(page, *, upload: int | None = None, download: int | None = None) -> None:
    """Slow the network down (Chrome DevTools), in bytes per second; None: full speed."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": download or -1,
            "uploadThroughput": upload or -1,
        },
    )


def wait_js(page, expression: str, timeout_s: float = 45) -> None:
    """page.wait_for_function, but via evaluate(): the app's CSP forbids eval in the page."""
    for _ in range(int(timeout_s * 10)):
        if page.evaluate(f"() => Boolean({expression})"):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {expression}")


def poll_until(page, run_jobs, selector: str, timeout_s: float = 60) -> None:
    """Run queued jobs from this thread while the page's htmx polling picks up the result."""
    for _ in range(int(timeout_s * 4)):
        run_jobs()
        if page.locator(selector).count():
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"{selector} never appeared")


def upload_ready(page, base: str, run_jobs, path: Path, kind: str = "avatar") -> None:
    """Upload a file from the library page as a person would, and wait until its files exist."""
    page.goto(f"{base}/images")
    page.check(f"input[name=kind][value={kind}]")
    page.set_input_files("#upload-file", str(path))
    card = f"#grid-{kind} .image-card:has-text('{path.name}')"
    page.wait_for_selector(card)
    poll_until(page, run_jobs, f"{card}[data-status=ready] .image-thumb img")


def element_image(locator) -> PILImage.Image:
    """What the person sees of one element, as pixels."""
    return PILImage.open(io.BytesIO(locator.screenshot())).convert("RGB")


def is_blank(picture: PILImage.Image) -> bool:
    """The middle of it is one flat colour (an empty canvas on its frame's background), not a
    picture. Only the middle: masks (circles, rounded corners) show the page in the corners."""
    w, h = picture.size
    box = (w // 4, h // 4, max(w // 4 + 1, w * 3 // 4), max(h // 4 + 1, h * 3 // 4))
    middle = picture.crop(box)
    return max(ImageStat.Stat(middle).stddev) < 4


class HeldBack:
    """A loopback HTTP server that sends the head of a file, then holds the rest back until
    release(): what a picture arriving over a slow connection looks like to the page, at
    moments the test chooses rather than at the mercy of timing. Route a request here with
    Playwright's route.continue_(url=held.url): the page still sees its own URL."""

    def __init__(self, head_bytes: int = 4096) -> None:
        self.head_bytes = head_bytes
        self.body = b""
        self.content_type = "application/octet-stream"
        self.gate = threading.Event()
        self.head_sent = threading.Event()
        held = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                self.send_response(200)
                self.send_header("Content-Type", held.content_type)
                self.send_header("Content-Length", str(len(held.body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(held.body[: held.head_bytes])
                self.wfile.flush()
                held.head_sent.set()
                held.gate.wait(60)
                self.wfile.write(held.body[held.head_bytes :])

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/held"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def release(self) -> None:
        self.gate.set()

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
