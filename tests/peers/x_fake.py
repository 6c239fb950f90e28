"""A loopback X (Twitter) API for the X adapter's tests (fixture `fake_x` in
tests/peers/platforms.py), following X's v1.1 and OAuth 1.0a references (platforms.md §2):

  POST /oauth/request_token                    oauth_callback → request token (form-encoded)
  GET  /oauth/authorize?oauth_token=…          auto-approves as `.approve_as`, 302 to the callback
                                               with oauth_token + oauth_verifier
  POST /oauth/access_token                     request token + verifier → access token, once
  GET  /1.1/account/verify_credentials.json    the user object
  POST /1.1/account/update_profile_image.json  multipart `image`, at most 700 KB
  POST /1.1/account/update_profile_banner.json multipart `banner`
  POST /1.1/account/update_profile.json        form `name` (50), `description` (160), `url`
                                               (100), `location` (30); only those sent change
  POST /1.1/oauth/invalidate_token             the access token stops working
  GET  /media/<name>                           the stored bytes

Every call but /oauth/authorize must carry a valid RFC 5849 HMAC-SHA1 signature, checked here
from scratch (base string from method, normalized URL and the sorted, percent-encoded query,
form-body and oauth_* parameters; a multipart body is not signed), with our consumer key and
secret and, past the first leg, the token's secret. Nonces are single use. Errors have X's
`{"errors": [{"code", "message"}]}` shape and answers carry `x-rate-limit-*` headers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlencode

from flask import Flask, Response, g, jsonify, request

from tests.peers.loopback import LoopbackServer
from tests.peers.platform_faults import (
    Fault,
    FaultControls,
    Faults,
    PushLog,
    RateLimiter,
    sha256,
    sniff_image,
)

AVATAR_LIMIT = 700 * 1024
# update_profile's fields (form name -> (User attribute, X's limit in characters))
PROFILE_FIELDS = {
    "name": ("name", 50),
    "description": ("description", 160),
    "url": ("url", 100),
    "location": ("location", 30),
}
CLOCK_SKEW = 300  # seconds an oauth_timestamp may differ from our clock
MESSAGES = {
    32: "Could not authenticate you.",
    88: "Rate limit exceeded",
    89: "Invalid or expired token.",
    131: "Internal error.",
}
FAULT_CODES = {401: 89, 422: 120, 429: 88}
PUSH = {"avatar": "image", "banner": "banner"}  # slot -> multipart field


def enc(value: str) -> str:
    """RFC 5849 §3.6: percent-encode everything but the unreserved characters."""
    return quote(value, safe="~-._")


def x_error(status: int, code: int, message: str | None = None) -> Response:
    response = jsonify({"errors": [{"code": code, "message": message or MESSAGES.get(code, "")}]})
    response.status_code = status
    return response


@dataclass
class User:
    id_str: str
    screen_name: str
    files: dict[str, str] = field(default_factory=dict)  # slot -> media name
    # Profile text as update_profile leaves it; `name` None: still the default (screen name)
    name: str | None = None
    description: str = ""
    url: str = ""
    location: str = ""
    followers: int = 0  # followers_count; tests set it to watch reach being recorded


@dataclass
class RequestToken:
    secret: str
    callback: str
    verifier: str | None = None
    user: str | None = None


@dataclass
class AccessToken:
    secret: str
    user: str
    revoked: bool = False


class FakeX(FaultControls, LoopbackServer):
    """X's API on 127.0.0.1:<port>, for one app (consumer key and secret); state in memory."""

    push_path = "update_profile_"

    def __init__(self, users: tuple[str, ...] = ("alice", "bob"), port: int = 0) -> None:
        self.consumer_key = "fake-consumer-" + secrets.token_hex(4)
        self.consumer_secret = secrets.token_urlsafe(24)
        self.users: dict[str, User] = {}
        self.request_tokens: dict[str, RequestToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.nonces: set[tuple[str, str]] = set()
        self.media: dict[str, bytes] = {}
        self.approve_as = "alice"
        self.deny = False
        self.refused: list[str] = []  # why each refused signature was refused
        self.api_limit = RateLimiter(75, 900)  # per user, X's 15-minute windows
        self.push_limit: RateLimiter | None = None
        self.faults = Faults()
        self.log = PushLog()
        self.lock = threading.RLock()
        for name in users:
            self.users[name] = User(str(1_400_000_000_000_000_000 + len(self.users) + 1), name)
        self.app = Flask("fake-x")
        self._routes()
        self.serve(self.app, port)

    # --- what tests call ------------------------------------------------------------------

    def token_for(self, name: str) -> tuple[str, str]:
        """An access token and its secret, as if `name` had gone through the flow."""
        token, secret = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access_tokens[token] = AccessToken(secret, name)
        return token, secret

    def current(self, name: str) -> dict[str, bytes | None]:
        files = self.users[name].files
        return {slot: self.media.get(files[slot]) if slot in files else None for slot in PUSH}

    # --- RFC 5849 -------------------------------------------------------------------------

    def _oauth_params(self) -> dict[str, str] | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("OAuth "):
            return None
        pairs = re.findall(r'([\w-]+)="([^"]*)"', header[len("OAuth ") :])
        return {unquote(k): unquote(v) for k, v in pairs}

    def _base_string(self, oauth: dict[str, str]) -> str:
        params = [(k, v) for k, v in request.args.items(multi=True)]
        if request.mimetype == "application/x-www-form-urlencoded":
            params += list(request.form.items(multi=True))
        params += [(k, v) for k, v in oauth.items() if k not in ("realm", "oauth_signature")]
        normalized = "&".join(f"{k}={v}" for k, v in sorted((enc(k), enc(v)) for k, v in params))
        url = f"{request.scheme}://{request.host.lower()}{request.path}"
        return "&".join((request.method.upper(), enc(url), enc(normalized)))

    def _verify(self, token_secret: str | None) -> tuple[dict[str, str] | None, str]:
        """The request's oauth_* parameters if its signature holds, else why not."""
        oauth = self._oauth_params()
        if oauth is None:
            return None, "no OAuth Authorization header"
        if oauth.get("oauth_consumer_key") != self.consumer_key:
            return None, "unknown consumer key"
        if oauth.get("oauth_signature_method") != "HMAC-SHA1":
            return None, "not HMAC-SHA1"
        try:
            skew = abs(time.time() - int(oauth.get("oauth_timestamp", "")))
        except ValueError:
            return None, "bad timestamp"
        if skew > CLOCK_SKEW:
            return None, "stale timestamp"
        nonce = (oauth.get("oauth_timestamp", ""), oauth.get("oauth_nonce", ""))
        if not nonce[1] or nonce in self.nonces:
            return None, "nonce missing or reused"
        key = f"{enc(self.consumer_secret)}&{enc(token_secret or '')}"
        digest = hmac.new(key.encode(), self._base_string(oauth).encode(), hashlib.sha1).digest()
        expected = base64.b64encode(digest).decode()
        if not hmac.compare_digest(expected, oauth.get("oauth_signature", "")):
            return None, "signature mismatch"
        self.nonces.add(nonce)
        return oauth, ""

    def _refuse(self, reason: str) -> Response:
        self.refused.append(reason)
        return x_error(401, 32)

    def _user_call(self) -> tuple[User | None, Response | None]:
        """The signed-in user of an API call, or the 401/429 to answer."""
        oauth = self._oauth_params() or {}
        token = self.access_tokens.get(oauth.get("oauth_token", ""))
        if token is None or token.revoked:
            return None, x_error(401, 89)
        oauth, reason = self._verify(token.secret)
        if oauth is None:
            return None, self._refuse(reason)
        ok, remaining, reset = self.api_limit.hit(token.user, time.time())
        g.rate_headers = self._rate_headers(self.api_limit.limit, remaining, reset)
        if not ok:
            return None, x_error(429, 88)
        return self.users[token.user], None

    @staticmethod
    def _rate_headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
        return {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(max(remaining, 0)),
            "x-rate-limit-reset": str(int(reset)),  # whole Unix seconds, as X sends them
        }

    def _fault_response(self, fault: Fault) -> Response:
        if fault.status == 429:
            reset = time.time() + (fault.reset_in if fault.reset_in is not None else 900)
            g.rate_headers = self._rate_headers(self.api_limit.limit, 0, reset)
        return x_error(fault.status, FAULT_CODES.get(fault.status, 131), fault.error)

    def user_json(self, user: User) -> dict:
        avatar = user.files.get("avatar")
        json = {
            "id": int(user.id_str),
            "id_str": user.id_str,
            "screen_name": user.screen_name,
            "name": user.name if user.name is not None else user.screen_name.title(),
            "description": user.description,
            "url": user.url or None,
            "location": user.location,
            "followers_count": user.followers,
            "friends_count": 0,
            "profile_image_url_https": (
                f"{self.url}/media/{avatar}"
                if avatar
                else "https://abs.twimg.com/sticky/default_profile_images/default_profile.png"
            ),
        }
        if "banner" in user.files:
            json["profile_banner_url"] = f"{self.url}/media/{user.files['banner']}"
        return json

    # --- routes ---------------------------------------------------------------------------

    def _routes(self) -> None:
        app = self.app

        @app.before_request
        def _lock():
            self.lock.acquire()
            g.locked = True

        @app.after_request
        def _headers(response: Response) -> Response:
            response.headers.update(g.pop("rate_headers", {}))
            return response

        @app.teardown_request
        def _unlock(_exc):
            if g.pop("locked", False):
                self.lock.release()

        @app.post("/oauth/request_token")
        def request_token():
            oauth, reason = self._verify(None)
            if oauth is None:
                return self._refuse(reason)
            callback = oauth.get("oauth_callback", "")
            if not callback.startswith(("http://", "https://")):
                return x_error(403, 415, "Callback URL not approved for this client application.")
            token = secrets.token_urlsafe(24)
            self.request_tokens[token] = RequestToken(secrets.token_urlsafe(24), callback)
            body = urlencode(
                {
                    "oauth_token": token,
                    "oauth_token_secret": self.request_tokens[token].secret,
                    "oauth_callback_confirmed": "true",
                }
            )
            return Response(body, 200, content_type="application/x-www-form-urlencoded")

        @app.get("/oauth/authorize")
        def authorize():
            token = request.args.get("oauth_token", "")
            pending = self.request_tokens.get(token)
            if pending is None:
                return Response("This page is no longer valid.", 400)
            sep = "&" if "?" in pending.callback else "?"
            if self.deny:
                del self.request_tokens[token]
                return Response("", 302, {"Location": f"{pending.callback}{sep}denied={token}"})
            pending.user, pending.verifier = self.approve_as, secrets.token_urlsafe(16)
            query = urlencode({"oauth_token": token, "oauth_verifier": pending.verifier})
            return Response("", 302, {"Location": f"{pending.callback}{sep}{query}"})

        @app.post("/oauth/access_token")
        def access_token():
            oauth = self._oauth_params() or {}
            pending = self.request_tokens.get(oauth.get("oauth_token", ""))
            if pending is None or pending.verifier is None:
                return self._refuse("unknown or unapproved request token")
            oauth, reason = self._verify(pending.secret)
            if oauth is None:
                return self._refuse(reason)
            verifier = oauth.get("oauth_verifier") or request.form.get("oauth_verifier")
            if not verifier or not hmac.compare_digest(verifier, pending.verifier):
                return self._refuse("wrong verifier")
            del self.request_tokens[oauth["oauth_token"]]  # a request token is used once
            token, secret = self.token_for(pending.user)
            user = self.users[pending.user]
            body = urlencode(
                {
                    "oauth_token": token,
                    "oauth_token_secret": secret,
                    "user_id": user.id_str,
                    "screen_name": user.screen_name,
                }
            )
            return Response(body, 200, content_type="application/x-www-form-urlencoded")

        @app.get("/1.1/account/verify_credentials.json")
        def verify_credentials():
            user, error = self._user_call()
            return error or jsonify(self.user_json(user))

        @app.post("/1.1/account/update_profile_image.json")
        @app.post("/1.1/account/update_profile_banner.json")
        def update_profile():
            user, error = self._user_call()
            if error:
                return error
            slot = "avatar" if request.path.endswith("image.json") else "banner"
            upload = request.files.get(PUSH[slot])
            data = upload.read() if upload else b""
            response = self._push_fault(user)
            if response is None and not data:
                response = x_error(400, 38, f"{PUSH[slot]} parameter is missing.")
            if response is None and slot == "avatar" and len(data) > AVATAR_LIMIT:
                response = x_error(422, 120, "Image file size must be <= 700KB.")
            status = response.status_code if response is not None else 200
            if data:
                self.log.record(user.screen_name, slot, data, status, account_id=user.id_str)
            if response is not None:
                return response
            name = f"{sha256(data)[:16]}.{(sniff_image(data) or 'x/bin').split('/')[1]}"
            self.media[name] = data
            user.files[slot] = name
            if slot == "avatar":
                return jsonify(self.user_json(user))
            return Response("", 201)

        @app.post("/1.1/account/update_profile.json")
        def update_profile_text():
            user, error = self._user_call()
            if error:
                return error
            sent = {k: request.form[k] for k in PROFILE_FIELDS if k in request.form}
            response = self._push_fault(user)
            for key, value in sent.items():
                limit = PROFILE_FIELDS[key][1]
                if response is None and len(value) > limit:
                    response = x_error(
                        403,
                        120,
                        f"Account update failed: {key.title()} is too long "
                        f"(maximum is {limit} characters).",
                    )
            if response is not None:
                return response
            for key, value in sent.items():
                setattr(user, PROFILE_FIELDS[key][0], value)
            return jsonify(self.user_json(user))

        @app.post("/1.1/oauth/invalidate_token")
        def invalidate_token():
            oauth = self._oauth_params() or {}
            token = self.access_tokens.get(oauth.get("oauth_token", ""))
            user, error = self._user_call()
            if error:
                return error
            token.revoked = True
            return jsonify({"access_token": oauth["oauth_token"]})

        @app.get("/media/<name>")
        def media(name: str):
            data = self.media.get(name)
            return Response(data, 200) if data is not None else Response("Not Found", 404)

    def _push_fault(self, user: User) -> Response | None:
        fault = self.faults.next_fault(request.path, push=True)
        if fault is None and self.push_limit is not None:
            ok, _, reset = self.push_limit.hit(user.id_str, time.time())
            if not ok:
                fault = Fault(429, reset - time.time())
        return self._fault_response(fault) if fault else None
