"""The shared machinery of the loopback OAuth 2 providers in fake_providers.py: a Flask app on a
free 127.0.0.1 port in a thread, authorization codes bound to client, redirect URI and PKCE
challenge, and bearer tokens. Not a plugin: fake_providers.py builds on it."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, request
from werkzeug.serving import make_server

CODE_TTL = 600


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def with_query(url: str, **params: Any) -> str:
    return url + ("&" if "?" in url else "?") + urlencode({k: v for k, v in params.items() if v})


@dataclass
class Grant:
    user: str
    client_id: str
    redirect_uri: str
    challenge: str | None
    method: str | None
    issued: float = field(default_factory=time.time)


class LoopbackProvider:
    """A provider app served from a thread on 127.0.0.1:<free port>; state lives in memory."""

    name = "provider"

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.registered_redirect_uri = self.redirect_uri = redirect_uri  # the app's callback URL
        self.users: dict[str, dict[str, Any]] = {}
        self.codes: dict[str, Grant] = {}
        self.tokens: dict[str, str] = {}
        self.deny = False  # the person clicks "Cancel" on the consent screen
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # (method, path, params) seen
        self.app = Flask(f"fake-{self.name}")
        self.routes()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.app.before_request(self._record)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def routes(self) -> None:
        raise NotImplementedError

    def _record(self) -> None:
        self.requests.append((request.method, request.path, dict(request.values)))

    def add_user(self, key: str, **profile: Any) -> None:
        self.users[key] = profile

    def reset(self) -> None:
        self.users.clear(), self.codes.clear(), self.tokens.clear(), self.requests.clear()
        self.redirect_uri = self.registered_redirect_uri
        self.deny = False

    def issue_code(self, user: str, redirect_uri: str) -> str:
        code = secrets.token_urlsafe(16)
        self.codes[code] = Grant(
            user,
            self.client_id,
            redirect_uri,
            request.args.get("code_challenge"),
            request.args.get("code_challenge_method"),
        )
        return code

    def redeem(self, params: dict[str, str]) -> tuple[str | None, str | None]:
        """(access_token, None) for a good exchange, (None, error) otherwise; a code works once."""
        if (
            params.get("client_id") != self.client_id
            or params.get("client_secret") != self.client_secret
        ):
            return None, "incorrect_client_credentials"
        grant = self.codes.pop(params.get("code", ""), None)
        if grant is None or time.time() - grant.issued > CODE_TTL:
            return None, "bad_verification_code"
        if params.get("redirect_uri") != grant.redirect_uri:
            return None, "redirect_uri_mismatch"
        if grant.challenge:
            verifier = params.get("code_verifier", "")
            expected = _s256(verifier) if grant.method == "S256" else verifier
            if not verifier or expected != grant.challenge:
                return None, "bad_verification_code"
        token = secrets.token_urlsafe(24)
        self.tokens[token] = grant.user
        return token, None

    def bearer_user(self) -> str | None:
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in {"bearer", "token"}:
            token = request.args.get("access_token", "")
        return self.tokens.get(token)

    def pick_user(self, hint: str | None) -> str:
        return hint if hint in self.users else next(iter(self.users))

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(10)
