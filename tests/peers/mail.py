"""pytest plugin: a real SMTP server (aiosmtpd) on loopback that keeps what it receives.

`mail_sink` points the app's MAIL_SERVER at it for one test. Mail goes out from the send_outbox
job, so run the queue first: `run_jobs(); msg = mail_sink.last(to="a@example.com")`, then
`mail_sink.link(msg, "/verify/")` pulls a link out of the text body.
"""

from __future__ import annotations

import email
import re
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller

from tests.peers.ports import free_port

URL = re.compile(r"https?://[^\s<>\"')]+")


class Sink:
    """The aiosmtpd handler: every accepted message, parsed, with its envelope recipients."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address.lower() in m["X-Envelope-To"].lower()]

    def wait(self, to: str, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        """Messages to `to`, once at least `count` arrived (the send happens on another thread)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(found := self.to(to)) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"expected {count} mail(s) to {to}, got {len(self.to(to))}")

    def last(self, to: str, timeout: float = 10.0) -> EmailMessage:
        return self.wait(to, 1, timeout)[-1]

    @staticmethod
    def text(message: EmailMessage) -> str:
        return message.get_body(preferencelist=("plain",)).get_content()

    @staticmethod
    def html(message: EmailMessage) -> str:
        return message.get_body(preferencelist=("html",)).get_content()

    def link(self, message: EmailMessage, contains: str, *, path_only: bool = True) -> str:
        """The first link in the text body containing `contains` (a path, for the test client)."""
        for url in URL.findall(self.text(message)):
            if contains in url:
                if not path_only:
                    return url
                parts = urlsplit(url)
                return parts.path + (f"?{parts.query}" if parts.query else "")
        raise AssertionError(f"no link containing {contains!r} in:\n{self.text(message)}")


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    for _ in range(5):
        port = free_port()
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        try:
            controller.start()
            break
        except OSError:  # another process took the port after our probe: take another
            continue
    else:
        raise AssertionError("the SMTP sink could not bind a free port in 5 tries")
    yield sink, port
    controller.stop()


@pytest.fixture
def mail_sink(app, smtp_server) -> Iterator[Sink]:
    """The app sends real SMTP to the loopback sink for this test; the sink starts empty."""
    sink, port = smtp_server
    sink.clear()
    keys = ("MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS", "MAIL_USE_SSL", "MAIL_USERNAME")
    saved = {key: app.config.get(key) for key in keys}
    app.config.update(
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=port,
        MAIL_USE_TLS=False,
        MAIL_USE_SSL=False,
        MAIL_USERNAME=None,
    )
    yield sink
    app.config.update(saved)
    sink.clear()
