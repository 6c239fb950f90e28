"""A loopback Google (sign-in, token endpoint) and YouTube Data API v3 for the YouTube adapter's
tests, on one port (platforms.md §9; fixture `fake_youtube` in tests/peers/youtube_fixture.py):

  GET  /o/oauth2/v2/auth                 auto-approves as `.approve_as`: 302 to redirect_uri with
                                         code + scope + state; a bad client, scope or PKCE
                                         challenge gets Google's error page instead (no redirect)
  POST /oauth2/v4/token                  authorization_code (client secret, same redirect URI,
                                         single-use code, PKCE S256 verifier) and refresh_token
  POST /o/oauth2/revoke                  token=… ends the whole grant
  GET  /youtube/v3/channels?part=…&mine=true           1 unit
  POST /upload/youtube/v3/channelBanners/insert?uploadType=media   raw bytes, 50 units
  PUT  /youtube/v3/channels?part=brandingSettings      replaces the whole part, 50 units
  GET  /banners/<channel>/<banner>       the stored bytes (what the banner URL shows)

Time is the fake's own clock (`advance(seconds)`), so a test can let access tokens expire (after
`access_lifetime`, 3600 s by default) or cross a Pacific midnight without waiting. API errors have
Google's `{"error": {"code", "message", "errors": [{"reason", "domain"}]}}` shape; token endpoint
errors are `{"error", "error_description"}`. Units are counted per Pacific day against
`daily_quota`; past it every API call is a 403 `quotaExceeded`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Flask, Response, g, jsonify, redirect, request
from PIL import Image, UnidentifiedImageError

from tests.peers.loopback import LoopbackServer
from tests.peers.platform_faults import Fault, FaultControls, Faults, PushLog, RateLimiter

CLIENT_ID = "linkarooie-test.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-youtube-test-secret"
YOUTUBE = "https://www.googleapis.com/auth/youtube"
FORCE_SSL = "https://www.googleapis.com/auth/youtube.force-ssl"
UPLOAD = "https://www.googleapis.com/auth/youtube.upload"
READONLY = "https://www.googleapis.com/auth/youtube.readonly"
PARTNER = "https://www.googleapis.com/auth/youtubepartner"
# Which scopes each method accepts (the "Authorization" section of each reference page).
READ_SCOPES = {YOUTUBE, FORCE_SSL, READONLY, PARTNER}
INSERT_SCOPES = {YOUTUBE, FORCE_SSL, UPLOAD}
UPDATE_SCOPES = {YOUTUBE, FORCE_SSL, PARTNER}
COSTS = {"list": 1, "insert": 50, "update": 50}  # quota units (determine_quota_cost)
PACIFIC = ZoneInfo("America/Los_Angeles")
MAX_UPLOAD = 6 * 1024 * 1024  # channelBanners.insert: maxSize "6MB"
MIN_WIDTH, MIN_HEIGHT = 2048, 1152
CODE_LIFETIME = 600
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    413: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
}
FAULTS = {  # injected status -> (status sent, reason, domain, message)
    401: (401, "authError", "global", "Invalid Credentials"),
    422: (400, "badRequest", "global", "Bad Request"),
    429: (429, "rateLimitExceeded", "usageLimits", "Rate Limit Exceeded"),
    500: (500, "backendError", "global", "Backend Error"),
    502: (502, "backendError", "global", "Bad Gateway"),
    503: (503, "backendError", "global", "The service is currently unavailable."),
}


def google_error(status: int, reason: str, message: str, domain: str = "global") -> Response:
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
            "status": STATUS_NAMES.get(status, "UNKNOWN"),
        }
    }
    response = jsonify(body)
    response.status_code = status
    return response


def oauth_error(status: int, error: str, description: str) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    return response


def error_page(status: int, error: str, detail: str) -> Response:
    """What Google shows in the browser when it will not even send the person back."""
    page = f"<h1>Error {status}: {error}</h1><p>{detail}</p>"
    return Response(page, status=status, mimetype="text/html")


def challenge_of(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Channel:
    id: str
    title: str
    custom_url: str
    branding: dict
    banners: dict[str, bytes] = field(default_factory=dict)  # banner id -> bytes


@dataclass
class GoogleUser:
    name: str
    channel: Channel | None


@dataclass
class Code:
    user: str
    redirect_uri: str
    challenge: str
    scope: str
    offline: bool
    issued: float


@dataclass
class Grant:
    """One consent: its refresh token (if offline) and the scopes it covers."""

    user: str
    scope: str
    refresh_token: str | None
    revoked: bool = False
    refresh_revoked: bool = False


class FakeYouTube(FaultControls, LoopbackServer):
    """Google sign-in plus the YouTube Data API on 127.0.0.1:<port>; all state in memory."""

    push_path = "POST /upload/youtube/v3/channelBanners/insert$"

    def __init__(self, port: int = 0) -> None:
        self.client_id, self.client_secret = CLIENT_ID, CLIENT_SECRET
        self.users: dict[str, GoogleUser] = {}
        self.codes: dict[str, Code] = {}
        self.grants: list[Grant] = []
        self.access: dict[str, tuple[Grant, float]] = {}  # access token -> (grant, expires at)
        self.approve_as = "alice"
        self.deny = False
        self.granted_scope: str | None = None  # the person unticked scopes on the consent screen
        self.access_lifetime = 3600.0
        self.daily_quota = 10_000
        self.used: dict[str, int] = {}  # Pacific date -> units
        self.max_upload = MAX_UPLOAD
        self.offset = 0.0
        self.refreshes = 0  # refresh_token grants answered with a new access token
        self.unauthorized = 0  # 401s the API answered
        self.calls: list[str] = []  # "<METHOD> <path>" of every API call that reached a route
        self.push_limit: RateLimiter | None = None
        self.faults = Faults()
        self.log = PushLog()
        self.lock = threading.RLock()
        self.add_user(
            "alice",
            title="Alice Makes Things",
            custom_url="@alicemakes",
            branding={
                "channel": {
                    "title": "Alice Makes Things",
                    "description": "Woodworking every Tuesday.",
                    "keywords": 'woodworking "hand tools"',
                    "unsubscribedTrailer": "dQw4w9WgXcQ",
                    "country": "NZ",
                },
                "image": {},
            },
        )
        self.add_user("bob", title=None)  # a Google account without a YouTube channel
        self.app = Flask("fake-youtube")
        self._routes()
        self.serve(self.app, port)

    # --- what tests call ------------------------------------------------------------------

    def add_user(
        self,
        name: str,
        *,
        title: str | None,
        custom_url: str = "",
        branding: dict | None = None,
    ) -> GoogleUser:
        channel = None
        if title is not None:
            channel_id = "UC" + secrets.token_urlsafe(16)[:22]
            channel = Channel(channel_id, title, custom_url, branding or {"channel": {}})
        self.users[name] = GoogleUser(name, channel)
        return self.users[name]

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        """Move the fake's clock (token lifetimes, code lifetimes, the quota day)."""
        self.offset += seconds

    def revoke_refresh_tokens(self, user: str | None = None) -> None:
        """Google stops honouring the refresh tokens (the 7-day limit of apps in Testing, or six
        months unused); access tokens already issued keep working until they expire."""
        for grant in self.grants:
            if user is None or grant.user == user:
                grant.refresh_revoked = True

    def channel(self, user: str = "alice") -> Channel:
        return self.users[user].channel

    def shown_banner(self, user: str = "alice") -> bytes | None:
        """The bytes behind the channel's bannerExternalUrl now."""
        channel = self.channel(user)
        url = (channel.branding.get("image") or {}).get("bannerExternalUrl") or ""
        return channel.banners.get(url.rsplit("/", 1)[-1])

    def units_used(self) -> int:
        return self.used.get(self._quota_day(), 0)

    # --- plumbing -------------------------------------------------------------------------

    def _quota_day(self) -> str:
        return datetime.fromtimestamp(self.now(), UTC).astimezone(PACIFIC).date().isoformat()

    def _before(self) -> Response | None:
        time.sleep(self.faults.delay())
        self.lock.acquire()
        g.locked = True
        where = f"{request.method} {request.path}$"
        push = where == self.push_path
        fault = self.faults.next_fault(where, push=push)
        if fault is None and push and self.push_limit is not None:
            ok, _, reset = self.push_limit.hit(self._bearer(), time.time())
            if not ok:
                fault = Fault(429, reset - time.time())
        if fault is None:
            return None
        if push:
            self.log.record(
                self._user_of_token() or "?", "banner", request.get_data(), fault.status
            )
        status, reason, domain, message = FAULTS[fault.status]
        response = google_error(status, reason, fault.error or message, domain)
        if fault.status == 429 and fault.reset_in is not None:
            response.headers["Retry-After"] = str(max(int(fault.reset_in + 0.999), 1))
        return response

    def _teardown(self, _exc: BaseException | None) -> None:
        if g.pop("locked", False):
            self.lock.release()

    @staticmethod
    def _bearer() -> str:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return value if scheme.lower() == "bearer" else ""

    def _user_of_token(self) -> str | None:
        held = self.access.get(self._bearer())
        return held[0].user if held else None

    def _authorized(self, scopes: set[str], cost: int) -> tuple[GoogleUser | None, Response | None]:
        """The caller (valid, unexpired token with one of `scopes`), charged `cost` units."""
        self.calls.append(f"{request.method} {request.path}")
        held = self.access.get(self._bearer())
        if held is None or held[0].revoked or held[1] <= self.now():
            self.unauthorized += 1
            return None, google_error(
                401,
                "authError",
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
            )
        grant = held[0]
        if not scopes & set(grant.scope.split()):
            return None, google_error(
                403, "insufficientPermissions", "Request had insufficient authentication scopes."
            )
        day = self._quota_day()
        if self.used.get(day, 0) + cost > self.daily_quota:
            return None, google_error(
                403,
                "quotaExceeded",
                "The request cannot be completed because you have exceeded your quota.",
                "youtube.quota",
            )
        self.used[day] = self.used.get(day, 0) + cost
        return self.users[grant.user], None

    def _issue(self, grant: Grant) -> dict:
        token = "ya29." + secrets.token_urlsafe(32)
        self.access[token] = (grant, self.now() + self.access_lifetime)
        return {
            "access_token": token,
            "expires_in": int(self.access_lifetime),
            "scope": grant.scope,
            "token_type": "Bearer",
        }

    def _client_ok(self) -> bool:
        form = request.form
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if request.authorization and request.authorization.type == "basic":
            client_id = request.authorization.username
            secret = request.authorization.password
        return client_id == self.client_id and secret == self.client_secret

    # --- routes ---------------------------------------------------------------------------

    def _routes(self) -> None:
        app = self.app
        app.before_request(self._before)
        app.teardown_request(self._teardown)

        @app.get("/o/oauth2/v2/auth")
        def authorize():
            args = request.args
            if args.get("client_id") != self.client_id:
                return error_page(401, "invalid_client", "The OAuth client was not found.")
            redirect_uri = args.get("redirect_uri", "")
            if not redirect_uri.startswith(("http://", "https://")):
                return error_page(400, "redirect_uri_mismatch", "Missing or invalid redirect_uri.")
            if args.get("response_type") != "code":
                return error_page(400, "unsupported_response_type", "Use response_type=code.")
            scopes = args.get("scope", "").split()
            if not set(scopes) & (INSERT_SCOPES | UPDATE_SCOPES):
                return error_page(400, "invalid_scope", "No YouTube scope was requested.")
            challenge = args.get("code_challenge", "")
            if args.get("code_challenge_method") != "S256" or not 43 <= len(challenge) <= 128:
                return error_page(400, "invalid_request", "Expected a PKCE S256 code_challenge.")
            back = {"state": args.get("state", "")}
            if self.deny:
                back["error"] = "access_denied"
            else:
                code = "4/" + secrets.token_urlsafe(24)
                scope = self.granted_scope if self.granted_scope is not None else " ".join(scopes)
                self.codes[code] = Code(
                    self.approve_as,
                    redirect_uri,
                    challenge,
                    scope,
                    args.get("access_type") == "offline",
                    self.now(),
                )
                back |= {"code": code, "scope": scope}
            separator = "&" if "?" in redirect_uri else "?"
            return redirect(f"{redirect_uri}{separator}{urlencode(back)}", 302)

        @app.post("/oauth2/v4/token")
        def token():
            form = request.form
            if not self._client_ok():
                return oauth_error(401, "invalid_client", "Unauthorized")
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                code = self.codes.pop(form.get("code", ""), None)  # a code works once
                if code is None or code.issued + CODE_LIFETIME < self.now():
                    return oauth_error(400, "invalid_grant", "Malformed auth code.")
                if form.get("redirect_uri") != code.redirect_uri:
                    return oauth_error(400, "redirect_uri_mismatch", "Bad Request")
                verifier = form.get("code_verifier", "")
                if not verifier:
                    return oauth_error(400, "invalid_grant", "Missing code verifier.")
                if challenge_of(verifier) != code.challenge:
                    return oauth_error(400, "invalid_grant", "Invalid code verifier.")
                refresh = "1//" + secrets.token_urlsafe(32) if code.offline else None
                grant = Grant(code.user, code.scope, refresh)
                self.grants.append(grant)
                answer = self._issue(grant)
                if refresh:
                    answer["refresh_token"] = refresh
                return jsonify(answer)
            if grant_type == "refresh_token":
                wanted = form.get("refresh_token", "")
                grant = next((x for x in self.grants if wanted and x.refresh_token == wanted), None)
                if grant is None or grant.revoked or grant.refresh_revoked:
                    return oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
                self.refreshes += 1
                return jsonify(self._issue(grant))  # no refresh_token: the old one stays valid
            return oauth_error(400, "unsupported_grant_type", "Invalid grant_type.")

        @app.post("/o/oauth2/revoke")
        def revoke():
            token = request.form.get("token") or request.args.get("token") or ""
            grant = self.access[token][0] if token in self.access else None
            grant = grant or next((x for x in self.grants if x.refresh_token == token), None)
            if grant is None or grant.revoked:
                return oauth_error(400, "invalid_token", "Token expired or revoked")
            grant.revoked = True
            return jsonify({})

        @app.get("/youtube/v3/channels")
        def channels():
            user, failure = self._authorized(READ_SCOPES, COSTS["list"])
            if failure:
                return failure
            parts = set(filter(None, request.args.get("part", "").split(",")))
            if not parts or request.args.get("mine") != "true":
                return google_error(400, "missingRequiredParameter", "Required parameter: part")
            items = []
            if user.channel is not None:
                channel = user.channel
                item = {"kind": "youtube#channel", "etag": secrets.token_hex(8), "id": channel.id}
                if "snippet" in parts:
                    item["snippet"] = {
                        "title": channel.title,
                        "description": channel.branding.get("channel", {}).get("description", ""),
                        "customUrl": channel.custom_url,
                        "publishedAt": "2016-03-01T10:00:00Z",
                    }
                if "brandingSettings" in parts:
                    item["brandingSettings"] = copy.deepcopy(channel.branding)
                items.append(item)
            return jsonify(
                kind="youtube#channelListResponse",
                etag=secrets.token_hex(8),
                pageInfo={"totalResults": len(items), "resultsPerPage": 5},
                items=items,
            )

        @app.post("/upload/youtube/v3/channelBanners/insert")
        def insert_banner():
            user, failure = self._authorized(INSERT_SCOPES, COSTS["insert"])
            if failure:
                return failure
            data = request.get_data()
            status, failure = self._check_banner(user, data)
            self.log.record(user.name, "banner", data, status)
            if failure:
                return failure
            banner_id = secrets.token_urlsafe(12)
            user.channel.banners[banner_id] = data
            return jsonify(
                kind="youtube#channelBannerResource",
                etag=secrets.token_hex(8),
                url=f"{self.url}/banners/{user.channel.id}/{banner_id}",
            )

        @app.put("/youtube/v3/channels")
        def update_channel():
            user, failure = self._authorized(UPDATE_SCOPES, COSTS["update"])
            if failure:
                return failure
            if request.args.get("part") != "brandingSettings":
                return google_error(400, "invalidPart", "This fake only updates brandingSettings.")
            body = request.get_json(silent=True) or {}
            if user.channel is None or body.get("id") != user.channel.id:
                return google_error(
                    403, "channelForbidden", "The channel cannot be updated by this user."
                )
            branding = body.get("brandingSettings")
            if not isinstance(branding, dict):
                return google_error(400, "brandingValidationError", "brandingSettings is missing.")
            url = (branding.get("image") or {}).get("bannerExternalUrl")
            prefix = f"{self.url}/banners/{user.channel.id}/"
            if url and not (url.startswith(prefix) and url[len(prefix) :] in user.channel.banners):
                return google_error(
                    400, "brandingValidationError", "bannerExternalUrl is not one of your banners."
                )
            # channels.update overwrites every mutable property of the part: what the client
            # left out is gone.
            user.channel.branding = copy.deepcopy(branding)
            return jsonify(
                kind="youtube#channel", id=user.channel.id, brandingSettings=user.channel.branding
            )

        @app.get("/banners/<channel_id>/<banner_id>")
        def banner(channel_id: str, banner_id: str):
            for user in self.users.values():
                if user.channel and user.channel.id == channel_id:
                    data = user.channel.banners.get(banner_id)
                    if data is not None:
                        return Response(data, mimetype="image/jpeg")
            return Response(status=404)

    def _check_banner(self, user: GoogleUser, data: bytes) -> tuple[int, Response | None]:
        if user.channel is None:
            return 404, google_error(404, "channelNotFound", "The user has no channel.")
        if request.args.get("uploadType") != "media":
            return 400, google_error(400, "invalidUploadType", "Use uploadType=media.")
        kind = request.content_type or ""
        if kind not in {"image/jpeg", "image/png", "application/octet-stream"}:
            return 400, google_error(400, "mediaBodyRequired", f"Media type {kind!r} is refused.")
        if not data:
            return 400, google_error(400, "mediaBodyRequired", "The request has no image.")
        if len(data) > self.max_upload:
            return 413, google_error(
                413,
                "uploadTooLarge",
                f"Media larger than {self.max_upload} bytes is not allowed.",
            )
        try:
            with Image.open(BytesIO(data)) as image:
                fmt, (width, height) = image.format, image.size
        except (UnidentifiedImageError, OSError):
            fmt, width, height = None, 0, 0
        if fmt not in {"JPEG", "PNG"}:
            return 400, google_error(
                400, "imageFormatUnsupported", "The image is not a JPEG or PNG."
            )
        if width < MIN_WIDTH:
            return 400, google_error(400, "imageTooNarrow", "The image is not wide enough.")
        if height < MIN_HEIGHT:
            return 400, google_error(400, "imageTooShort", "The image is not tall enough.")
        return 200, None
