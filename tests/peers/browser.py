"""pytest plugin: the app served on a real loopback port, and headless Chromium (Playwright).

Debian's `chromium` is used (Playwright's own browser download is not reachable from CI).
Screenshots go to test-artifacts/ (ignored by git) so a person can look at them.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The test app on 127.0.0.1:<free port>, served from a thread for the length of one test."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, request) -> Iterator[object]:
    """A fresh browser context per test; `page.shot(name)` saves a full-page screenshot
    (`full_page=False`: what the viewport shows, sticky parts where the person sees them)."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    browser_page = context.new_page()
    browser_page.set_default_timeout(15_000)
    ARTIFACTS.mkdir(exist_ok=True)

    def shot(name: str, full_page: bool = True) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        browser_page.screenshot(path=str(path), full_page=full_page)
        return path

    browser_page.shot = shot
    yield browser_page
    context.close()
