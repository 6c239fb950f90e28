"""A loopback Mastodon instance for the sync engine's tests (fixture in tests/peers/platforms.py),
benchmarks and trying the app by hand (standalone, below), following docs.joinmastodon.org
(methods/apps, methods/oauth, methods/accounts, methods/instance, api/rate-limits) and what
Mastodon 4.3 answers (Doorkeeper errors, rack-attack headers, Paperclip validation messages):

  POST  /api/v1/apps                          register a client: client_id + client_secret
  GET   /oauth/authorize                      auto-approves as `.approve_as`, 302 with code+state
  POST  /oauth/token                          authorization_code (+PKCE S256) | client_credentials
  POST  /oauth/revoke                         the token stops working
  GET   /api/v1/accounts/verify_credentials   CredentialAccount (read:accounts)
  PATCH /api/v1/accounts/update_credentials   multipart avatar/header, display_name, note,
                                              fields_attributes[i][name|value] (write:accounts)
  GET   /api/v1/instance, /api/v2/instance
  GET   /system/accounts/{avatars,headers}/…  the stored bytes (real Mastodon re-encodes them)

Authenticated answers carry X-RateLimit-Limit/Remaining/Reset, the reset as ISO 8601 UTC with
microseconds as Mastodon's `iso8601(6)` prints it. Faults (`fail_next`, `chaos`) never store
anything, so `duplicate_pushes()` only counts uploads the engine really did not need.

    python -m tests.peers.mastodon --port 8790 --users alice,bob --first-push-429 3
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import Flask, Response, g, jsonify, request

from tests.peers.loopback import LoopbackServer
from tests.peers.mastodon_oauth import App, Grant, Token, add_oauth_routes, allowed, json_error
from tests.peers.mastodon_shapes import (
    account_json,
    fault_body,
    instance_v1,
    instance_v2,
    validation_messages,
)
from tests.peers.platform_faults import (
    Fault,
    FaultControls,
    Faults,
    PushLog,
    RateLimiter,
    sha256,
    sniff_image,
)

MIB = 1024 * 1024
MAX_FIELDS = 4  # Mastodon's Account::DEFAULT_FIELDS_SIZE
FIELD_KEY = re.compile(r"fields_attributes\[(\d+)\]\[(name|value)\]")
SLOTS = ("avatar", "header")
ONE_PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def iso_time(epoch: float) -> str:
    """Ruby's Time#iso8601(6) in UTC, as Mastodon prints X-RateLimit-Reset."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Account:
    id: str
    username: str
    display_name: str
    note: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)  # profile metadata, in order
    followers: int = 0  # followers_count; tests set it to watch reach being recorded
    created_at: str = field(
        default_factory=lambda: time.strftime("%Y-%m-%dT00:00:00.000Z", time.gmtime())
    )
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # slot -> (path, bytes)


class FakeMastodon(FaultControls, LoopbackServer):
    """One Mastodon instance on 127.0.0.1:<port>; all state in memory, one request at a time."""

    push_path = "update_credentials"

    def __init__(self, users: tuple[str, ...] = ("alice", "bob"), port: int = 0) -> None:
        self.apps: dict[str, App] = {}  # client_id -> app; len() = registrations
        self.codes: dict[str, Grant] = {}  # authorization codes not yet exchanged
        self.tokens: dict[str, Token] = {}
        self.accounts: dict[str, Account] = {}
        self.files: dict[str, tuple[str, bytes]] = {}  # URL path -> (mime type, bytes)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.approve_as = "alice"  # who is signed in when the browser reaches /oauth/authorize
        self.deny = False  # that person clicks "Deny"
        self.avatar_limit = self.header_limit = 2 * MIB  # Account::Avatar::LIMIT without libvips
        self.image_size_limit = 16 * MIB  # media attachments, advertised in /api/v2/instance
        self.api_limit = RateLimiter(300, 300)  # per account, every authenticated /api call
        self.push_limit: RateLimiter | None = None
        self.first_push_429: float | None = None  # seconds: each account's first push waits
        self.first_pushed: set[str] = set()
        self.faults = Faults()
        self.log = PushLog()
        self.lock = threading.RLock()
        for username in users:
            self.add_user(username)
        self.app = Flask("fake-mastodon")
        add_oauth_routes(self)
        self._routes()
        self.serve(self.app, port)

    # --- what tests and benchmarks call ---------------------------------------------------

    def add_user(self, username: str, display_name: str = "", note: str = "") -> Account:
        account_id = str(110_000_000_000_000_000 + len(self.accounts) + 1)  # snowflake-sized
        account = Account(account_id, username, display_name or username.title(), note)
        self.accounts[username] = account
        return account

    def token_for(self, username: str, scopes: str = "read write") -> str:
        """A token as if `username` had gone through the OAuth flow."""
        token = secrets.token_urlsafe(32)
        self.tokens[token] = Token(username, None, scopes.split())
        return token

    def revoke_all(self, username: str) -> None:
        for token in self.tokens.values():
            if token.user == username:
                token.revoked = True

    def current(self, username: str) -> dict[str, bytes | None]:
        files = self.accounts[username].files
        return {slot: files[slot][1] if slot in files else None for slot in SLOTS}

    # --- plumbing -------------------------------------------------------------------------

    def _before(self) -> Response | None:
        if request.path.startswith(("/api/", "/oauth/")):
            time.sleep(self.faults.delay())  # outside the lock, so slow answers overlap
        self.lock.acquire()
        g.locked = True
        self.requests.append((request.method, request.path, dict(request.values)))
        # scripted faults for other paths (say "/oauth/token") answer before anything else
        api = request.path.startswith(("/api/", "/oauth/"))
        if api and not request.path.endswith("/update_credentials"):
            fault = self.faults.next_fault(request.path, push=False)
            if fault:
                return self._fault_response(fault)
        return None

    def _after(self, response: Response) -> Response:
        response.headers.update(g.pop("rate_headers", {}))
        return response

    def _teardown(self, _exc: BaseException | None) -> None:
        if g.pop("locked", False):
            self.lock.release()

    def _authenticate(self, scope: str) -> tuple[Token | None, Response | None]:
        """The bearer token, rate-limited like rack-attack, or the 401/403/429 to answer."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        token = self.tokens.get(value) if scheme.lower() == "bearer" else None
        if token is None or token.revoked:
            message = "The access token was revoked" if token else "The access token is invalid"
            challenge = (
                f'Bearer realm="Doorkeeper", error="invalid_token", error_description="{message}"'
            )
            return None, json_error(401, message, **{"WWW-Authenticate": challenge})
        ok, remaining, reset = self.api_limit.hit(token.user or value, time.time())
        g.rate_headers = self._rate_headers(self.api_limit.limit, remaining, reset)
        if not ok:
            return None, json_error(429, "Too many requests")
        if not allowed(token.scopes, scope):
            return None, json_error(403, "This action is outside the authorized scopes")
        return token, None

    @staticmethod
    def _rate_headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(remaining, 0)),
            "X-RateLimit-Reset": iso_time(reset),
        }

    def _fault_response(self, fault: Fault) -> Response:
        if fault.status == 429:
            limit = (self.push_limit or self.api_limit).limit
            reset = time.time() + (fault.reset_in if fault.reset_in is not None else 300)
            g.rate_headers = self._rate_headers(limit, 0, reset)
        return fault_body(fault.status, fault.error)

    def _push_fault(self, account: Account, push: bool) -> Fault | None:
        """A scripted fault, the first-push 429, chaos (pushes only), or the push rate limit."""
        first = (
            push and self.first_push_429 is not None and account.username not in self.first_pushed
        )
        if first:
            self.first_pushed.add(account.username)
            return Fault(429, self.first_push_429)
        fault = self.faults.next_fault(request.path, push=push)
        if fault is None and self.push_limit is not None:
            ok, remaining, reset = self.push_limit.hit(account.id, time.time())
            if remaining < int(g.rate_headers["X-RateLimit-Remaining"]) or not ok:
                g.rate_headers = self._rate_headers(self.push_limit.limit, remaining, reset)
            if not ok:
                return Fault(429, reset - time.time())
        return fault

    def _store(self, account: Account, slot: str, data: bytes) -> None:
        mime = sniff_image(data) or "application/octet-stream"
        partition = "/".join(account.id[i : i + 3] for i in range(0, len(account.id), 3))
        ext = mime.split("/")[1].replace("jpeg", "jpg")
        path = f"/system/accounts/{slot}s/{partition}/original/{sha256(data)[:16]}.{ext}"
        old = account.files.get(slot)
        if old:
            self.files.pop(old[0], None)  # Paperclip deletes the replaced file
        account.files[slot] = (path, data)
        self.files[path] = (mime, data)

    # --- routes ---------------------------------------------------------------------------

    def _routes(self) -> None:
        app = self.app
        app.before_request(self._before)
        app.after_request(self._after)
        app.teardown_request(self._teardown)

        @app.get("/api/v1/accounts/verify_credentials")
        def verify_credentials():
            token, error = self._authenticate("read:accounts")
            if error is None and token.user is None:
                error = json_error(422, "This method requires an authenticated user")
            return error or jsonify(account_json(self, self.accounts[token.user]))

        @app.patch("/api/v1/accounts/update_credentials")
        def update_credentials():
            token, error = self._authenticate("write:accounts")
            if error is None and token.user is None:
                error = json_error(422, "This method requires an authenticated user")
            if error:
                return error
            account = self.accounts[token.user]
            uploads = {
                slot: (f.mimetype or "", f.read())
                for slot, f in request.files.items()
                if slot in SLOTS
            }
            display_name = request.form.get("display_name")
            pairs = _fields_attributes(request.form)
            limits = {"avatar": self.avatar_limit, "header": self.header_limit}
            fault = self._push_fault(account, push=bool(uploads))
            status, response = 200, None
            if fault:
                response = self._fault_response(fault)
                status = fault.status
            else:
                messages = validation_messages(uploads, limits)
                if display_name is not None and len(display_name) > 30:
                    messages.append("Display name is too long (maximum is 30 characters)")
                if len(request.form.get("note", "")) > 500:
                    messages.append("Note is too long (maximum is 500 characters)")
                if pairs is not None and len(pairs) > MAX_FIELDS:
                    messages.append(f"Fields is too long (maximum is {MAX_FIELDS} fields)")
                if pairs and any(len(n) > 255 or len(v) > 255 for n, v in pairs):
                    messages.append("Fields name or value is too long (maximum is 255 characters)")
                if messages:
                    status = 422
                    response = json_error(422, "Validation failed: " + ", ".join(messages))
            for slot, (_, data) in uploads.items():
                self.log.record(account.username, slot, data, status, account_id=account.id)
            if response is not None:
                return response
            for slot, (_, data) in uploads.items():
                self._store(account, slot, data)
            if display_name is not None:
                account.display_name = display_name
            if "note" in request.form:
                account.note = request.form["note"]
            if pairs is not None:
                account.fields = pairs
            return jsonify(account_json(self, account))

        @app.get("/system/accounts/<kind>/<path:rest>")
        def stored_file(kind: str, rest: str):
            mime, data = self.files.get(request.path, (None, None))
            if data is None:
                return Response("Not Found", 404)
            return Response(data, 200, content_type=mime)

        @app.get("/avatars/original/missing.png")
        @app.get("/headers/original/missing.png")
        def missing():
            return Response(ONE_PIXEL_PNG, 200, content_type="image/png")

        @app.get("/api/v1/instance")
        def instance():
            return jsonify(instance_v1(self))

        @app.get("/api/v2/instance")
        def instance2():
            return jsonify(instance_v2(self))


def _fields_attributes(form) -> list[tuple[str, str]] | None:
    """fields_attributes[i][name|value] as Rails parses it: the whole new list (pairs with both
    parts blank dropped), or None when the request does not touch the fields."""
    found: dict[int, dict[str, str]] = {}
    for key, value in form.items():
        match = FIELD_KEY.fullmatch(key)
        if match:
            found.setdefault(int(match[1]), {})[match[2]] = value.strip()
    if not found:
        return None
    pairs = [(found[i].get("name", ""), found[i].get("value", "")) for i in sorted(found)]
    return [(name, value) for name, value in pairs if name or value]


def main() -> None:
    parser = argparse.ArgumentParser(description="A loopback Mastodon instance in the foreground.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--users", default="alice,bob", help="comma-separated usernames")
    parser.add_argument(
        "--first-push-429",
        type=float,
        metavar="SECONDS",
        help="answer each account's first update_credentials with 429, reset SECONDS ahead",
    )
    args = parser.parse_args()
    server = FakeMastodon(tuple(u for u in args.users.split(",") if u), port=args.port)
    server.first_push_429 = args.first_push_429
    print(f"MASTODON_READY {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.server.serve_forever()


if __name__ == "__main__":
    main()
