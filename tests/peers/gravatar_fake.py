"""A loopback Gravatar for the adapter's tests: WordPress.com's OAuth endpoints and the parts of
Gravatar's REST API v3 Linkarooie uses, on one port (platforms.md §10):

  GET  /oauth2/authorize                 auto-approves as `.approve_as`: 302 with code + state
  POST /oauth2/token                     authorization_code; checks client id/secret, redirect
                                         URI, and that the code is used once
  GET  /rest/v1.1/me                     WordPress.com's "who is this": ID, username, email
  POST /v3/me/avatars                    multipart upload (field UPLOAD_FIELD): Avatar JSON
  GET  /v3/me/avatars?selected_email_hash=…   the account's images, which one is selected
  POST /v3/me/avatars/<image_id>/email   {"email_hash": …} selects the image for that email: 204
  PATCH /v3/me/avatars/<image_id>        {"rating": G|PG|R|X, "alt_text"}: the updated Avatar
  GET  /avatar/<hash>                    the selected image's bytes
  GET  /userimage/<person>/<image_id>    one image's bytes (where an Avatar's image_url points)

Every /v3 answer carries X-RateLimit-Limit/Remaining/Reset (Unix seconds). Faults come from
FaultControls; their paths match "<METHOD> <path>$", so the default push path is the upload
alone (not the select call or the image list behind the same prefix).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from urllib.parse import urlencode

from flask import Flask, Response, g, jsonify, redirect, request
from PIL import Image, UnidentifiedImageError

from app.services.platforms.gravatar import UPLOAD_FIELD
from tests.peers.loopback import LoopbackServer
from tests.peers.platform_faults import Fault, FaultControls, Faults, PushLog, RateLimiter

CLIENT_ID = "12345"
CLIENT_SECRET = "gravatar-test-secret"
ERRORS = {  # status -> (code, message), the shapes §10.5 lists
    400: ("invalid_request", "The request is invalid."),
    401: ("unauthorized", "Authentication failed."),
    403: ("insufficient_scope", "The token lacks the required scope."),
    422: ("unprocessable", "The request could not be processed."),
    429: ("rate_limit_exceeded", "Rate limit exceeded."),
    500: ("internal_error", "Internal server error."),
    502: ("bad_gateway", "Bad gateway."),
    503: ("service_unavailable", "Service unavailable."),
}


def email_hash(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


@dataclass
class Person:
    id: int
    username: str
    email: str
    images: dict[str, bytes] = field(default_factory=dict)  # image_id -> bytes, upload order
    selected: dict[str, str] = field(default_factory=dict)  # email hash -> image_id
    ratings: dict[str, str] = field(default_factory=dict)  # image_id -> G/PG/R/X

    @property
    def hash(self) -> str:
        return email_hash(self.email)


def error(status: int, message: str | None = None, code: str | None = None) -> Response:
    default_code, default_message = ERRORS.get(status, ("error", "Error."))
    response = jsonify({"error": message or default_message, "code": code or default_code})
    response.status_code = status
    return response


class FakeGravatar(FaultControls, LoopbackServer):
    """WordPress.com sign-in plus Gravatar on 127.0.0.1:<port>; all state in memory."""

    push_path = "POST /v3/me/avatars$"
    chaos_reset_range = (1.0, 2.0)  # the reset header is whole seconds

    def __init__(self, users: tuple[str, ...] = ("alice", "bob"), port: int = 0) -> None:
        self.client_id, self.client_secret = CLIENT_ID, CLIENT_SECRET
        self.people: dict[str, Person] = {}
        self.codes: dict[str, tuple[str, str]] = {}  # code -> (username, redirect_uri)
        self.tokens: dict[str, str] = {}  # token -> username
        self.approve_as = "alice"
        self.deny = False
        # The rating a new upload gets; Gravatar keeps a person's choice, so it may not be G.
        self.upload_rating = "G"
        self.patches: list[tuple[str, str]] = []  # (image_id, rating) per PATCH
        self.max_upload = 2 * 1024 * 1024  # bytes; §10.4 publishes no limit, so ours is a guess
        self.api_limit = RateLimiter(1000, 3600)  # per token, §10.5's published quota
        self.push_limit: RateLimiter | None = None
        self.faults = Faults()
        self.log = PushLog()
        self.lock = threading.RLock()
        for username in users:
            self.add_user(username)
        self.app = Flask("fake-gravatar")
        self._routes()
        self.serve(self.app, port)

    # --- what tests call ------------------------------------------------------------------

    def add_user(self, username: str, email: str | None = None) -> Person:
        person = Person(len(self.people) + 1, username, email or f"{username.title()}@Example.com ")
        self.people[username] = person
        return person

    def token_for(self, username: str) -> str:
        token = secrets.token_urlsafe(32)
        self.tokens[token] = username
        return token

    def revoke_all(self, username: str) -> None:
        for token in [t for t, user in self.tokens.items() if user == username]:
            del self.tokens[token]

    def selected_bytes(self, username: str) -> bytes | None:
        """What Gravatar shows for the person's own email now."""
        person = self.people[username]
        image_id = person.selected.get(person.hash)
        return person.images.get(image_id) if image_id else None

    # --- plumbing -------------------------------------------------------------------------

    def _fault_response(self, fault: Fault) -> Response:
        if fault.status == 429:
            limit = (self.push_limit or self.api_limit).limit
            reset = time.time() + (fault.reset_in if fault.reset_in is not None else 60)
            g.rate_headers = self._rate_headers(limit, 0, reset)
        return error(fault.status, fault.error)

    @staticmethod
    def _rate_headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(max(remaining, 0)),
            "X-RateLimit-Reset": str(math.ceil(reset)),
        }

    def _before(self) -> Response | None:
        time.sleep(self.faults.delay())
        self.lock.acquire()
        g.locked = True
        where = f"{request.method} {request.path}$"
        push = where == self.push_path
        fault = self.faults.next_fault(where, push=push)
        if fault is None and push and self.push_limit is not None:
            username = self.tokens.get(self._bearer())
            ok, _, reset = self.push_limit.hit(username, time.time())
            if not ok:
                fault = Fault(429, reset - time.time())
        if fault is not None:
            if push and request.files.get(UPLOAD_FIELD):
                person = self.people.get(self.tokens.get(self._bearer(), ""))
                data = request.files[UPLOAD_FIELD].read()
                self.log.record(person.username if person else "?", "avatar", data, fault.status)
            return self._fault_response(fault)
        return None

    def _after(self, response: Response) -> Response:
        response.headers.update(g.pop("rate_headers", {}))
        return response

    def _teardown(self, _exc: BaseException | None) -> None:
        if g.pop("locked", False):
            self.lock.release()

    @staticmethod
    def _bearer() -> str:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        return value if scheme.lower() == "bearer" else ""

    def _person(self) -> tuple[Person | None, Response | None]:
        username = self.tokens.get(self._bearer())
        if username is None:
            return None, error(401, "Invalid or expired token.")
        if request.path.startswith("/v3/"):
            ok, remaining, reset = self.api_limit.hit(username, time.time())
            g.rate_headers = self._rate_headers(self.api_limit.limit, remaining, reset)
            if not ok:
                return None, error(429)
        return self.people[username], None

    @staticmethod
    def _avatar_json(person: Person, image_id: str, selected_hash: str | None) -> dict:
        return {
            "image_id": image_id,
            "image_url": f"{request.host_url}userimage/{person.id}/{image_id}",
            "rating": person.ratings.get(image_id, "G"),
            "alt_text": "",
            "updated_date": datetime.now(UTC).isoformat(timespec="seconds"),
            "selected": bool(selected_hash and person.selected.get(selected_hash) == image_id),
        }

    # --- routes ---------------------------------------------------------------------------

    def _routes(self) -> None:
        app = self.app
        app.before_request(self._before)
        app.after_request(self._after)
        app.teardown_request(self._teardown)

        @app.get("/oauth2/authorize")
        def authorize():
            args = request.args
            if args.get("client_id") != self.client_id or args.get("response_type") != "code":
                return error(400, "Invalid client or response type.")
            if "gravatar-profile:manage" not in args.get("scope", "").split():
                return error(400, "Missing the gravatar-profile:manage scope.")
            back = {"state": args.get("state", "")}
            if self.deny:
                back["error"] = "access_denied"
            else:
                code = secrets.token_urlsafe(16)
                self.codes[code] = (self.approve_as, args.get("redirect_uri", ""))
                back["code"] = code
            return redirect(f"{args.get('redirect_uri', '')}?{urlencode(back)}", 302)

        @app.post("/oauth2/token")
        def token():
            form = request.form
            if form.get("client_id") != self.client_id or (
                form.get("client_secret") != self.client_secret
            ):
                return jsonify(
                    error="invalid_client", error_description="Unknown client or bad secret."
                ), 400
            grant = self.codes.pop(form.get("code", ""), None)  # a code works once
            if form.get("grant_type") != "authorization_code" or grant is None:
                return jsonify(
                    error="invalid_grant", error_description="Invalid or used code."
                ), 400
            if grant[1] != form.get("redirect_uri"):
                return jsonify(
                    error="invalid_grant", error_description="The redirect_uri does not match."
                ), 400
            access = self.token_for(grant[0])
            return jsonify(
                access_token=access,
                token_type="bearer",
                blog_id="0",
                blog_url=None,
                scope="auth gravatar-profile:manage",
            )

        @app.get("/rest/v1.1/me")
        def me():
            person, failure = self._person()
            if failure:
                return failure
            return jsonify(
                ID=person.id,
                username=person.username,
                display_name=person.username.title(),
                email=person.email,
                email_verified=True,
            )

        @app.post("/v3/me/avatars")
        def upload():
            person, failure = self._person()
            if failure:
                return failure
            upload = request.files.get(UPLOAD_FIELD)
            if upload is None:
                return error(400, f"Missing the {UPLOAD_FIELD} field.")
            data = upload.read()
            status, failure = self._check_image(data)
            self.log.record(person.username, "avatar", data, status)
            if failure:
                return failure
            image_id = secrets.token_hex(16)
            person.images[image_id] = data
            person.ratings[image_id] = self.upload_rating
            return jsonify(self._avatar_json(person, image_id, None))

        @app.patch("/v3/me/avatars/<image_id>")
        def update(image_id: str):
            person, failure = self._person()
            if failure:
                return failure
            if image_id not in person.images:
                return error(404, "Avatar not found.", "avatar_not_found")
            body = request.get_json(silent=True) or {}
            rating = body.get("rating", person.ratings[image_id])
            if rating not in ("G", "PG", "R", "X"):
                return error(400, "Rating must be G, PG, R or X.", "invalid_rating")
            person.ratings[image_id] = rating
            self.patches.append((image_id, rating))
            return jsonify(self._avatar_json(person, image_id, None))

        @app.get("/v3/me/avatars")
        def avatars():
            person, failure = self._person()
            if failure:
                return failure
            selected = request.args.get("selected_email_hash")
            return jsonify([self._avatar_json(person, i, selected) for i in person.images])

        @app.post("/v3/me/avatars/<image_id>/email")
        def select(image_id: str):
            person, failure = self._person()
            if failure:
                return failure
            wanted = (request.get_json(silent=True) or {}).get("email_hash")
            if image_id not in person.images:
                return error(404, "Avatar not found.", "avatar_not_found")
            if wanted != person.hash:
                return error(403, "That email is not yours.", "email_not_associated")
            person.selected[wanted] = image_id
            return Response(status=204)

        @app.get("/userimage/<int:person_id>/<image_id>")
        def user_image(person_id: int, image_id: str):
            for person in self.people.values():
                if person.id == person_id and image_id in person.images:
                    return Response(person.images[image_id], mimetype="image/jpeg")
            return Response(status=404)

        @app.get("/avatar/<hash_>")
        def public_avatar(hash_: str):
            for person in self.people.values():
                if person.hash == hash_ and hash_ in person.selected:
                    return Response(person.images[person.selected[hash_]], mimetype="image/jpeg")
            return Response(status=404)

    def _check_image(self, data: bytes) -> tuple[int, Response | None]:
        if len(data) > self.max_upload:
            return 413, error(413, "The image is too large.", "file_too_large")
        try:
            with Image.open(BytesIO(data)) as image:
                kind, (width, height) = image.format, image.size
        except (UnidentifiedImageError, OSError):
            return 400, error(400, "Only JPG, PNG and GIF are supported.", "unsupported_image")
        if kind not in {"JPEG", "PNG", "GIF"}:
            return 400, error(400, "Only JPG, PNG and GIF are supported.", "unsupported_image")
        if width != height:
            return 400, error(400, "The image must be square.", "uncropped_image")
        return 200, None
