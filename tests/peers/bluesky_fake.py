"""A loopback Bluesky PDS for the chaos benchmark (correctness tests use the real PDS), following
the atproto lexicons (com.atproto.server.*, com.atproto.repo.*, app.bsky.actor.profile) and what
the reference PDS answers (packages/pds, packages/xrpc-server):

  POST /xrpc/com.atproto.server.createSession   {identifier, password} -> did, handle, JWTs
  POST /xrpc/com.atproto.server.refreshSession  Bearer refreshJwt; rotates: the old one is dead
  POST /xrpc/com.atproto.repo.uploadBlob        raw bytes -> blob ref (a real CIDv1 raw sha256)
  GET  /xrpc/com.atproto.repo.getRecord         the profile record, or 400 RecordNotFound
  POST /xrpc/com.atproto.repo.putRecord         swapRecord checked; avatar/banner png|jpeg <= 1 MB
  GET  /xrpc/com.atproto.identity.resolveHandle, /xrpc/_health

Tokens are opaque strings shaped like JWTs. Access tokens expire after `access_ttl` seconds
(400 ExpiredToken); `advance(seconds)` moves the fake's clock for tokens, so a test can let
time pass. `revoke_app_password(handle)` is the person revoking our app password in their
settings: it stops working, and so does every refresh token it gave (access tokens run on until
they expire, as on the reference PDS).

A refresh token works once: stricter than the reference PDS, which lets a spent one be reused for
2 hours, so an engine that races two refreshes shows up here.
Authenticated answers carry RateLimit-Limit/Remaining/Reset (Unix seconds)/Policy.

A push is one image field of a putRecord whose blob is new to the profile (changed, or uploaded
again since the last write); `duplicate_pushes()` counts those whose bytes were already there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, g, jsonify, request

from tests.peers.loopback import LoopbackServer
from tests.peers.platform_faults import (
    Fault,
    FaultControls,
    Faults,
    PushLog,
    RateLimiter,
    sniff_image,
)

PROFILE = "app.bsky.actor.profile"
IMAGE_FIELDS = ("avatar", "banner")
PROFILE_IMAGE_TYPES = {"image/png", "image/jpeg"}
PROFILE_IMAGE_MAX = 1_000_000  # lexicon maxSize for avatar and banner
BLOB_UPLOAD_LIMIT = 5 * 1024 * 1024  # the reference PDS's default blobUploadLimit
FAULT_ERRORS = {
    400: ("InvalidRequest", "Invalid request"),
    401: ("AuthenticationRequired", "Authentication Required"),
    422: ("InvalidRequest", "Invalid request"),
    429: ("RateLimitExceeded", "Rate Limit Exceeded"),
    500: ("InternalServerError", "Internal Server Error"),
    502: ("UpstreamFailure", "Upstream Failure"),
    503: ("NotEnoughResources", "Service Unavailable"),
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def cid_for(data: bytes, codec: int) -> str:
    """CIDv1, sha2-256, base32: codec 0x55 (raw) gives bafkrei…, 0x71 (dag-cbor) bafyrei…."""
    raw = bytes([0x01, codec, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(raw).decode("ascii").lower().rstrip("=")


def xrpc_error(status: int, error: str, message: str) -> Response:
    response = jsonify(error=error, message=message)
    response.status_code = status
    return response


@dataclass
class BskyAccount:
    handle: str
    password: str
    did: str
    record: dict[str, Any] | None = None
    cid: str | None = None
    rev: int = 0
    fresh_blobs: set[str] = field(default_factory=set)  # uploaded since the last profile write


@dataclass
class Session:
    did: str
    scope: str  # "com.atproto.access" | "com.atproto.refresh"
    expires: float
    spent: bool = False


class FakeBluesky(FaultControls, LoopbackServer):
    """One PDS on 127.0.0.1:<port>; all state in memory, one request at a time."""

    push_path = "putRecord"
    chaos_reset_range = (1.0, 2.0)  # RateLimit-Reset is whole Unix seconds

    def __init__(self, access_ttl: float = 7200, refresh_ttl: float = 90 * 86400) -> None:
        self.access_ttl, self.refresh_ttl = access_ttl, refresh_ttl
        self.offset = 0.0  # seconds the token clock runs ahead of the real one
        self.accounts: dict[str, BskyAccount] = {}  # did -> account
        self.sessions: dict[str, Session] = {}
        self.blobs: dict[str, tuple[str, bytes]] = {}  # cid -> (mime type, bytes)
        self.uploads: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self.api_limit = RateLimiter(3000, 300)  # per account, like the global 3000 / 5 min
        self.push_limit: RateLimiter | None = None
        self.faults = Faults()
        self.log = PushLog()
        self.lock = threading.RLock()
        self.app = Flask("fake-bluesky")
        self._routes()
        self.serve(self.app, 0)

    # --- what the benchmark calls ---------------------------------------------------------

    def add_account(self, handle: str, password: str) -> BskyAccount:
        did = (
            "did:plc:"
            + base64.b32encode(hashlib.sha256(handle.encode()).digest()).decode()[:24].lower()
        )
        self.accounts[did] = BskyAccount(handle, password, did)
        return self.accounts[did]

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def revoke_app_password(self, handle: str) -> None:
        with self.lock:
            account = self._account(handle)
            account.password = secrets.token_urlsafe(12)
            for session in self.sessions.values():
                if session.did == account.did and session.scope == "com.atproto.refresh":
                    session.spent = True

    def count(self, path_end: str) -> int:
        """Requests seen whose path ends with `path_end` (say, "refreshSession")."""
        return sum(1 for _, path in self.requests if path.endswith(path_end))

    def current(self, handle: str) -> dict[str, bytes | None]:
        record = self._account(handle).record or {}
        return {
            f: self.blobs[record[f]["ref"]["$link"]][1] if f in record else None
            for f in IMAGE_FIELDS
        }

    # --- plumbing -------------------------------------------------------------------------

    def _account(self, repo: str) -> BskyAccount:
        for account in self.accounts.values():
            if repo in (account.did, account.handle):
                return account
        raise KeyError(repo)

    def _mint(self, did: str, scope: str, ttl: float) -> str:
        now = int(self.now())
        header = b64url(b'{"typ":"at+jwt","alg":"HS256"}')
        claims = {"scope": scope, "sub": did, "iat": now, "exp": now + int(ttl)}
        claims["jti"] = secrets.token_hex(8)
        token = f"{header}.{b64url(json.dumps(claims).encode())}.{b64url(secrets.token_bytes(32))}"
        self.sessions[token] = Session(did, scope, self.now() + ttl)
        return token

    def _session_json(self, account: BskyAccount) -> dict[str, Any]:
        return {
            "did": account.did,
            "handle": account.handle,
            "accessJwt": self._mint(account.did, "com.atproto.access", self.access_ttl),
            "refreshJwt": self._mint(account.did, "com.atproto.refresh", self.refresh_ttl),
            "active": True,
            "didDoc": {
                "id": account.did,
                "alsoKnownAs": [f"at://{account.handle}"],
                "service": [
                    {
                        "id": "#atproto_pds",
                        "type": "AtprotoPersonalDataServer",
                        "serviceEndpoint": self.url,
                    }
                ],
            },
        }

    def _bearer(self, scope: str) -> tuple[Session | None, Response | None]:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value:
            return None, xrpc_error(401, "AuthenticationRequired", "Authentication Required")
        session = self.sessions.get(value)
        if session is None:
            return None, xrpc_error(401, "InvalidToken", "Token could not be verified")
        if session.scope != scope:
            return None, xrpc_error(400, "InvalidToken", "Bad token scope")
        if session.spent:
            return None, xrpc_error(400, "ExpiredToken", "Token has been revoked")
        if self.now() >= session.expires:
            return None, xrpc_error(400, "ExpiredToken", "Token has expired")
        ok, remaining, reset = self.api_limit.hit(session.did, time.time())
        g.rate_headers = self._rate_headers(self.api_limit, remaining, reset)
        if not ok:
            return None, xrpc_error(429, *FAULT_ERRORS[429])
        return session, None

    @staticmethod
    def _rate_headers(limiter: RateLimiter, remaining: int, reset: float) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(limiter.limit),
            "RateLimit-Remaining": str(max(remaining, 0)),
            "RateLimit-Reset": str(int(reset)),
            "RateLimit-Policy": f"{limiter.limit};w={int(limiter.window)}",
        }

    def _fault_response(self, fault: Fault) -> Response:
        if fault.status == 429:
            limiter = self.push_limit or self.api_limit
            reset = time.time() + (fault.reset_in if fault.reset_in is not None else limiter.window)
            g.rate_headers = self._rate_headers(limiter, 0, reset)
        error, message = FAULT_ERRORS[fault.status]
        return xrpc_error(fault.status, error, fault.error or message)

    def _before(self) -> Response | None:
        time.sleep(self.faults.delay())  # outside the lock, so slow answers overlap
        self.lock.acquire()
        g.locked = True
        self.requests.append((request.method, request.path))
        if not request.path.endswith("putRecord"):  # putRecord records its pushes first
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

    def _push_fault(self, did: str, push: bool) -> Fault | None:
        fault = self.faults.next_fault(request.path, push=push)
        if fault is None and self.push_limit is not None:
            ok, remaining, reset = self.push_limit.hit(did, time.time())
            if remaining < int(g.rate_headers["RateLimit-Remaining"]) or not ok:
                g.rate_headers = self._rate_headers(self.push_limit, remaining, reset)
            if not ok:
                return Fault(429, reset - time.time())
        return fault

    def _check_images(self, record: dict[str, Any]) -> Response | None:
        for name in IMAGE_FIELDS:
            blob = record.get(name)
            if blob is None:
                continue
            link = (blob.get("ref") or {}).get("$link") if isinstance(blob, dict) else None
            if link not in self.blobs:
                return xrpc_error(400, "InvalidRequest", f"Could not find blob: {link}")
            mime, data = self.blobs[link]
            if mime not in PROFILE_IMAGE_TYPES:
                message = f"Invalid {PROFILE} record: Record/{name} mimeType is not accepted"
                return xrpc_error(400, "InvalidRecord", message)
            if len(data) > PROFILE_IMAGE_MAX:
                message = f"Invalid {PROFILE} record: Record/{name} file too large"
                return xrpc_error(400, "InvalidRecord", message)
        return None

    def _pushed_fields(self, account: BskyAccount, record: dict[str, Any]) -> dict[str, str]:
        """field -> blob cid for the images this write sends anew."""
        before = account.record or {}
        pushed = {}
        for name in IMAGE_FIELDS:
            link = ((record.get(name) or {}).get("ref") or {}).get("$link")
            old = ((before.get(name) or {}).get("ref") or {}).get("$link")
            if link and (link != old or link in account.fresh_blobs):
                pushed[name] = link
        return pushed

    # --- routes ---------------------------------------------------------------------------

    def _routes(self) -> None:
        app = self.app
        app.before_request(self._before)
        app.after_request(self._after)
        app.teardown_request(self._teardown)

        @app.get("/xrpc/_health")
        def health():
            return jsonify(version="0.4.0-fake")

        @app.post("/xrpc/com.atproto.server.createSession")
        def create_session():
            body = request.get_json(silent=True) or {}
            try:
                account = self._account(str(body.get("identifier", "")).removeprefix("@"))
            except KeyError:
                account = None
            if account is None or not secrets.compare_digest(
                account.password, str(body.get("password", ""))
            ):
                return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
            return jsonify(self._session_json(account))

        @app.post("/xrpc/com.atproto.server.refreshSession")
        def refresh_session():
            session, error = self._bearer("com.atproto.refresh")
            if error:
                return error
            session.spent = True  # rotating: this refresh token never works again
            return jsonify(self._session_json(self.accounts[session.did]))

        @app.get("/xrpc/com.atproto.identity.resolveHandle")
        def resolve_handle():
            try:
                return jsonify(did=self._account(request.args.get("handle", "")).did)
            except KeyError:
                return xrpc_error(400, "InvalidRequest", "Unable to resolve handle")

        @app.post("/xrpc/com.atproto.repo.uploadBlob")
        def upload_blob():
            session, error = self._bearer("com.atproto.access")
            if error:
                return error
            data = request.get_data()
            if len(data) > BLOB_UPLOAD_LIMIT:
                return xrpc_error(413, "PayloadTooLarge", "request entity too large")
            # the PDS trusts what the bytes are over what the Content-Type says
            mime = sniff_image(data) or request.mimetype or "application/octet-stream"
            link = cid_for(data, 0x55)
            self.blobs[link] = (mime, data)
            self.accounts[session.did].fresh_blobs.add(link)
            self.uploads.append({"did": session.did, "cid": link, "size": len(data)})
            blob = {"$type": "blob", "ref": {"$link": link}, "mimeType": mime, "size": len(data)}
            return jsonify(blob=blob)

        @app.get("/xrpc/com.atproto.repo.getRecord")
        def get_record():
            args = request.args
            uri = f"at://{args.get('repo')}/{args.get('collection')}/{args.get('rkey')}"
            try:
                account = self._account(args.get("repo", ""))
            except KeyError:
                return xrpc_error(400, "InvalidRequest", f"Could not find repo: {args.get('repo')}")
            if (
                args.get("collection") != PROFILE
                or args.get("rkey") != "self"
                or not account.record
            ):
                return xrpc_error(400, "RecordNotFound", f"Could not locate record: {uri}")
            uri = f"at://{account.did}/{PROFILE}/self"
            return jsonify(uri=uri, cid=account.cid, value=account.record)

        @app.post("/xrpc/com.atproto.repo.putRecord")
        def put_record():
            session, error = self._bearer("com.atproto.access")
            if error:
                return error
            body = request.get_json(silent=True) or {}
            account = self.accounts[session.did]
            if body.get("repo") not in (account.did, account.handle):
                return xrpc_error(403, "InvalidRequest", "Can not write to another repo")
            if body.get("collection") != PROFILE or body.get("rkey") != "self":
                return xrpc_error(400, "InvalidRequest", "This fake only stores the profile record")
            record = body.get("record")
            if not isinstance(record, dict):
                return xrpc_error(400, "InvalidRequest", "Input/record must be an object")
            pushed = self._pushed_fields(account, record)
            fault = self._push_fault(account.did, push=bool(pushed))
            response = self._fault_response(fault) if fault else None
            if response is None and "swapRecord" in body and body["swapRecord"] != account.cid:
                response = xrpc_error(400, "InvalidSwap", f"Record was at {account.cid}")
            response = response or self._check_images(record)
            status = response.status_code if response is not None else 200
            for name, link in pushed.items():
                data = self.blobs.get(link, ("", b""))[1]
                self.log.record(account.handle, name, data, status, did=account.did, cid=link)
            if response is not None:
                return response
            account.record = {**record, "$type": PROFILE}
            account.cid = cid_for(json.dumps(account.record, sort_keys=True).encode(), 0x71)
            account.rev += 1
            account.fresh_blobs.clear()
            commit = {"cid": cid_for(f"{account.did}:{account.rev}".encode(), 0x71)}
            commit["rev"] = f"3l{account.rev:011d}"
            uri = f"at://{account.did}/{PROFILE}/self"
            return jsonify(uri=uri, cid=account.cid, commit=commit, validationStatus="valid")
