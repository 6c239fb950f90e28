"""pytest plugin: a loopback webhook receiver that checks every request with an independent
Standard Webhooks implementation (the `standardwebhooks` package, used in tests only).

`receiver.secret` is the secret to verify with (set it after creating the endpoint);
`receiver.fail(n)` answers 500 to the next n requests; `receiver.redirect_to(url)` answers 302.
Each request is recorded: headers, body, whether the signature verified, what was answered.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from flask import Flask, Response, request
from standardwebhooks import Webhook, WebhookVerificationError

from tests.peers.loopback import LoopbackServer


@dataclass
class Received:
    headers: dict[str, str]
    body: str
    verified: bool
    answered: int
    payload: dict | None = None
    error: str | None = None


@dataclass
class WebhookReceiver(LoopbackServer):
    secret: str | None = None
    received: list[Received] = field(default_factory=list)
    failures_left: int = 0
    redirect: str | None = None

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        app = Flask("webhook_receiver")
        app.add_url_rule("/", "hook", self.hook, methods=["POST"])
        app.add_url_rule("/<path:path>", "hook_path", self.hook, methods=["POST"])
        self.serve(app)

    def fail(self, times: int) -> None:
        self.failures_left = times

    def redirect_to(self, url: str | None) -> None:
        self.redirect = url

    def verified(self) -> list[Received]:
        return [r for r in self.received if r.verified]

    def hook(self, path: str = "") -> Response:
        body = request.get_data(as_text=True)
        headers = {k.lower(): v for k, v in request.headers.items()}
        payload, error = None, None
        try:
            payload = Webhook(self.secret or "").verify(body, headers)
        except (WebhookVerificationError, ValueError, RuntimeError) as exc:
            error = str(exc) or type(exc).__name__
        with self.lock:
            if self.redirect:
                answered = 302
            elif self.failures_left > 0:
                self.failures_left -= 1
                answered = 500
            else:
                answered = 204
            self.received.append(
                Received(headers, body, payload is not None, answered, payload, error)
            )
        if answered == 302:
            return Response("", 302, {"Location": self.redirect})
        return Response("oops" if answered == 500 else "", answered)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    server.start()
    yield server
    server.stop()
