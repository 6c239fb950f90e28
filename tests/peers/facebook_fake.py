"""A loopback Facebook for the Pages adapter's tests: the Login dialog and the parts of the Graph
API (v25.0) Linkarooie uses, on one port (platforms.md §3):

  GET  /v25.0/dialog/oauth         auto-approves as `.approve_as`: 302 with code + state; checks
                                   the client id, response_type=code and the Page scopes
  GET  /v25.0/oauth/access_token   code → short-lived user token (client id/secret, the dialog's
                                   redirect URI, single-use codes); grant_type=fb_exchange_token
                                   → long-lived user token
  GET  /v25.0/me/accounts          the person's Pages with a Page token and `tasks` each, paged
                                   (`page_size` per answer, cursors and paging.next)
  POST /v25.0/<page>/photos        multipart `source` with published=false: {"id": photo id}
  POST /v25.0/<page>/picture       photo=<that Page's photo id>: the Page picture
  POST /v25.0/<page>               cover=<that Page's photo id> (+ no_feed_story): the cover
  GET  /v25.0/<page>/picture       redirect=0: {"data": {"url", "is_silhouette", …}}
  GET  /v25.0/<page>?fields=cover  {"cover": {"id", "source", …}, "id"}
  GET  /cdn/<photo id>.jpg         a stored photo's bytes

Tokens come as `access_token` (query or form); when an app secret is set, `appsecret_proof`
(HMAC-SHA256 of the token) must match. Errors have Graph's shape,
{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}, mostly with HTTP 400.
A Page call with a user token is a (#190), with another Page's token a (#200) permission error.
FaultControls faults (HTTP-status flavoured) are translated into Graph's shapes: 401 → an expired
session (190/463), 429 → a Page throttle (80001) with X-Business-Use-Case-Usage whose
estimated_time_to_regain_access is `reset_in` rounded up to minutes, 422 → (#100), 5xx → a
transient (#2) or a bare gateway page.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from io import BytesIO
from urllib.parse import urlencode

from flask import Flask, Response, g, jsonify, redirect, request
from PIL import Image, UnidentifiedImageError

from tests.peers.loopback import LoopbackServer
from tests.peers.platform_faults import Fault, FaultControls, Faults, PushLog, RateLimiter

VERSION = "v25.0"
CLIENT_ID = "1234567890123456"
CLIENT_SECRET = "facebook-pages-test-secret"
REQUIRED_SCOPES = {"pages_manage_metadata", "pages_manage_posts"}
SHORT_LIVED, LONG_LIVED = 2 * 3600, 5_184_000  # seconds, what Facebook's docs quote


@dataclass
class Photo:
    id: str
    page_id: str
    data: bytes
    published: bool


@dataclass
class Page:
    id: str
    name: str
    tasks: list[str]
    picture: str | None = None  # photo id
    cover: str | None = None  # photo id
    feed_stories: list[str] = field(default_factory=list)  # what a cover change announced


@dataclass
class Person:
    id: str
    name: str
    pages: list[str]  # page ids this person has a role on


@dataclass
class Token:
    kind: str  # "short", "long" or "page"
    person: str
    page_id: str | None = None
    expired: bool = False


def graph_error(
    message: str,
    code: int,
    *,
    kind: str = "OAuthException",
    subcode: int | None = None,
    status: int = 400,
    headers: dict[str, str] | None = None,
    transient: bool = False,
) -> Response:
    error = {"message": message, "type": kind, "code": code, "fbtrace_id": secrets.token_hex(8)}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient:
        error["is_transient"] = True
    response = jsonify(error=error)
    response.status_code = status
    response.headers.update(headers or {})
    return response


class FakeFacebookPages(FaultControls, LoopbackServer):
    """Facebook Login plus the Graph API on 127.0.0.1:<port>; all state in memory."""

    push_path = "/photos$"  # a push starts with the unpublished upload

    def __init__(self, port: int = 0) -> None:
        self.client_id, self.client_secret = CLIENT_ID, CLIENT_SECRET
        self.people: dict[str, Person] = {}
        self.pages: dict[str, Page] = {}
        self.photos: dict[str, Photo] = {}
        self.codes: dict[str, tuple[str, str]] = {}  # code -> (person, redirect_uri)
        self.tokens: dict[str, Token] = {}
        self.approve_as = "alice"
        self.deny = False
        self.page_size = 1  # Pages per /me/accounts answer, so paging is always exercised
        self.max_upload = 4 * 1024 * 1024  # Facebook's photo limit
        self.uploads: list[dict] = []  # every photo upload: page, published, size, sha256
        self.push_limit: RateLimiter | None = None
        self.faults = Faults()
        self.log = PushLog()
        self.lock = threading.RLock()
        alice = self.add_person("alice", "Alice Example")
        self.add_page(
            alice,
            "101",
            "Alice's Bakery",
            ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"],
        )
        self.add_page(alice, "202", "Neighbourhood Choir", ["ANALYZE", "CREATE_CONTENT"])
        self.app = Flask("fake-facebook")
        self._routes()
        self.serve(self.app, port)

    # --- what tests call ------------------------------------------------------------------

    def add_person(self, key: str, name: str) -> Person:
        person = Person(str(9000 + len(self.people)), name, [])
        self.people[key] = person
        return person

    def add_page(self, person: Person, page_id: str, name: str, tasks: list[str]) -> Page:
        page = Page(page_id, name, tasks)
        self.pages[page_id] = page
        person.pages.append(page_id)
        return page

    def issue(self, kind: str, person: str, page_id: str | None = None) -> str:
        token = ("EAAB" if kind != "page" else "EAAP") + secrets.token_urlsafe(40)
        self.tokens[token] = Token(kind, person, page_id)
        return token

    def page_token(self, person: str, page_id: str) -> str:
        """The person's token for this Page (the same one /me/accounts keeps answering)."""
        for token, known in self.tokens.items():
            if (known.kind, known.person, known.page_id) == ("page", person, page_id) and (
                not known.expired
            ):
                return token
        return self.issue("page", person, page_id)

    def expire_page_tokens(self, page_id: str) -> None:
        """What a password change or a lost Page role does: the Page's tokens stop working."""
        for token in self.tokens.values():
            if token.page_id == page_id:
                token.expired = True

    def user_tokens(self) -> list[str]:
        return [t for t, known in self.tokens.items() if known.kind in ("short", "long")]

    def shown(self, page_id: str) -> dict[str, bytes | None]:
        """What the Page shows now: picture and cover bytes."""
        page = self.pages[page_id]
        return {
            "avatar": self.photos[page.picture].data if page.picture else None,
            "banner": self.photos[page.cover].data if page.cover else None,
        }

    # --- plumbing -------------------------------------------------------------------------

    def _fault_response(self, fault: Fault, page_id: str) -> Response:
        if fault.status == 401:
            return graph_error(
                "Error validating access token: Session has expired.", 190, subcode=463
            )
        if fault.status == 429:
            minutes = math.ceil((fault.reset_in if fault.reset_in is not None else 60) / 60)
            usage = {
                page_id or "0": [
                    {
                        "type": "pages",
                        "call_count": 100,
                        "total_cputime": 12,
                        "total_time": 15,
                        "estimated_time_to_regain_access": minutes,
                    }
                ]
            }
            return graph_error(
                "There have been too many calls to this Page account. Wait a bit and try again.",
                80001,
                headers={"X-Business-Use-Case-Usage": json.dumps(usage)},
            )
        if fault.status == 422:
            return graph_error(fault.error or "(#100) Invalid parameter", 100)
        if fault.status == 500:
            return graph_error(
                "An unexpected error has occurred. Please retry your request later.",
                2,
                status=500,
                transient=True,
            )
        return Response("<html><body>Bad gateway</body></html>", fault.status, mimetype="text/html")

    def _before(self) -> Response | None:
        time.sleep(self.faults.delay())
        self.lock.acquire()
        g.locked = True
        where = f"{request.method} {request.path}$"
        push = where.endswith(self.push_path) and request.method == "POST"
        fault = self.faults.next_fault(where, push=push)
        page_id = (request.view_args or {}).get("page_id", "")
        if fault is None and push and self.push_limit is not None:
            ok, _, reset = self.push_limit.hit(page_id, time.time())
            if not ok:
                fault = Fault(429, reset - time.time())
        if fault is not None:
            return self._fault_response(fault, page_id)
        if request.path.startswith("/v") and not request.path.startswith(f"/{VERSION}/"):
            return graph_error("Unknown path components", 2500)
        return None

    def _teardown(self, _exc: BaseException | None) -> None:
        if g.pop("locked", False):
            self.lock.release()

    def _token(self) -> tuple[str, Token | None, Response | None]:
        value = request.values.get("access_token", "")
        known = self.tokens.get(value)
        if known is None:
            return value, None, graph_error("Invalid OAuth access token data.", 190)
        proof = request.values.get("appsecret_proof")
        wanted = hmac.new(self.client_secret.encode(), value.encode(), hashlib.sha256).hexdigest()
        if proof is not None and not hmac.compare_digest(proof, wanted):
            return (
                value,
                None,
                graph_error("Invalid appsecret_proof provided in the API argument", 100),
            )
        if known.expired:
            return (
                value,
                None,
                graph_error(
                    "Error validating access token: The session has been invalidated because the "
                    "user changed their password or Facebook has changed the session for security "
                    "reasons.",
                    190,
                    subcode=460,
                ),
            )
        return value, known, None

    def _page_token(self, page_id: str) -> tuple[Page | None, Response | None]:
        """A call on a Page: it needs that Page's own token."""
        _, token, failure = self._token()
        if failure:
            return None, failure
        page = self.pages.get(page_id)
        if page is None:
            return None, graph_error(
                f"Unsupported post request. Object with ID '{page_id}' does not exist",
                100,
                kind="GraphMethodException",
                subcode=33,
            )
        if token.kind != "page":
            return None, graph_error(
                "(#190) This method must be called with a Page Access Token", 190
            )
        if token.page_id != page_id or "MANAGE" not in page.tasks:
            return None, graph_error(
                "(#200) The user must be an administrator, editor, or moderator of the page",
                200,
            )
        return page, None

    @staticmethod
    def _cdn_url(photo_id: str) -> str:
        # Like Facebook's CDN: the signature and expiry in the query change on every answer.
        signed = urlencode({"oh": secrets.token_hex(8), "oe": format(int(time.time()), "X")})
        return f"{request.host_url}cdn/{photo_id}.jpg?{signed}"

    def _picture_url(self, page: Page) -> str:
        return self._cdn_url(page.picture or "silhouette")

    # --- routes ---------------------------------------------------------------------------

    def _routes(self) -> None:
        app = self.app
        app.before_request(self._before)
        app.teardown_request(self._teardown)
        v = f"/{VERSION}"

        @app.get(f"{v}/dialog/oauth")
        def dialog():
            args = request.args
            if args.get("client_id") != self.client_id:
                return graph_error("Invalid App ID", 101)
            if args.get("response_type") != "code" or not args.get("redirect_uri"):
                return graph_error("Invalid response_type or redirect_uri", 100)
            scopes = set(args.get("scope", "").split(","))
            if not scopes >= REQUIRED_SCOPES:
                return graph_error(f"Missing scopes: {sorted(REQUIRED_SCOPES - scopes)}", 100)
            back = {"state": args.get("state", "")}
            if self.deny:
                back.update(
                    error="access_denied",
                    error_code="200",
                    error_description="Permissions error",
                    error_reason="user_denied",
                )
            else:
                code = secrets.token_urlsafe(24)
                self.codes[code] = (self.approve_as, args["redirect_uri"])
                back["code"] = code
            return redirect(f"{args['redirect_uri']}?{urlencode(back)}", 302)

        @app.get(f"{v}/oauth/access_token")
        def access_token():
            args = request.args
            if args.get("client_id") != self.client_id:
                return graph_error("Error validating application. Invalid application ID.", 101)
            if args.get("client_secret") != self.client_secret:
                return graph_error("Error validating client secret.", 1)
            if args.get("grant_type") == "fb_exchange_token":
                known = self.tokens.get(args.get("fb_exchange_token", ""))
                if known is None or known.kind not in ("short", "long") or known.expired:
                    return graph_error("Invalid OAuth access token data.", 190)
                return jsonify(
                    access_token=self.issue("long", known.person),
                    token_type="bearer",
                    expires_in=LONG_LIVED,
                )
            grant = self.codes.pop(args.get("code", ""), None)  # a code works once
            if grant is None:
                return graph_error("This authorization code has been used.", 100, subcode=36009)
            if grant[1] != args.get("redirect_uri"):
                return graph_error(
                    "Error validating verification code. Please make sure your redirect_uri is "
                    "identical to the one you used in the OAuth dialog request",
                    100,
                    subcode=36008,
                )
            return jsonify(
                access_token=self.issue("short", grant[0]),
                token_type="bearer",
                expires_in=SHORT_LIVED,
            )

        @app.get(f"{v}/me/accounts")
        def accounts():
            value, token, failure = self._token()
            if failure:
                return failure
            if token.kind == "page":
                return graph_error("(#100) Tried accessing nonexisting field (accounts)", 100)
            fields = set(request.args.get("fields", "id,name").split(","))
            page_ids = self.people[token.person].pages
            start = int(request.args.get("after") or 0)
            size = min(self.page_size, int(request.args.get("limit") or 25))
            rows = []
            for page_id in page_ids[start : start + size]:
                page = self.pages[page_id]
                row = {"id": page.id, "name": page.name}
                if "access_token" in fields:
                    row["access_token"] = self.page_token(token.person, page.id)
                if "tasks" in fields:
                    row["tasks"] = list(page.tasks)
                rows.append({k: row[k] for k in row if k in fields})
            body: dict = {"data": rows, "paging": {"cursors": {"before": str(start)}}}
            if start + size < len(page_ids):
                body["paging"]["cursors"]["after"] = str(start + size)
                query = urlencode(
                    {
                        "access_token": value,
                        "fields": ",".join(sorted(fields)),
                        "limit": str(size),
                        "after": str(start + size),
                    }
                )
                person_id = self.people[token.person].id
                body["paging"]["next"] = f"{request.host_url}{VERSION}/{person_id}/accounts?{query}"
            return jsonify(body)

        @app.get(f"{v}/<person_id>/accounts")
        def accounts_by_id(person_id: str):
            return accounts()

        @app.post(f"{v}/<page_id>/photos")
        def upload(page_id: str):
            page, failure = self._page_token(page_id)
            if failure:
                return failure
            source = request.files.get("source")
            if source is None:
                return graph_error("(#324) Requires upload file", 324)
            published = request.form.get("published", "true")
            data = source.read()
            self.uploads.append(
                {
                    "page": page_id,
                    "published": published,
                    "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                }
            )
            if published != "false":
                # Linkarooie must never post to the Page's feed
                return graph_error("(fake) Only unpublished photos are accepted here", 100)
            if len(data) > self.max_upload:
                return graph_error("(#1) The file is too large", 1, kind="OAuthException")
            try:
                with Image.open(BytesIO(data)) as image:
                    image.verify()
            except (UnidentifiedImageError, OSError):
                return graph_error("(#324) Missing or invalid image file", 324)
            photo = Photo(str(7_000_000 + len(self.photos)), page_id, data, published=False)
            self.photos[photo.id] = photo
            return jsonify(id=photo.id)

        @app.post(f"{v}/<page_id>/picture")
        def set_picture(page_id: str):
            page, failure = self._page_token(page_id)
            if failure:
                return failure
            photo = self.photos.get(request.form.get("photo", ""))
            if photo is None or photo.page_id != page_id:
                return graph_error("(#100) Invalid photo id for this Page", 100)
            page.picture = photo.id
            self.log.record(page_id, "avatar", photo.data, 200)
            return jsonify(success=True)

        @app.post(f"{v}/<page_id>")
        def update_page(page_id: str):
            page, failure = self._page_token(page_id)
            if failure:
                return failure
            if "cover" not in request.form:
                return graph_error("(#100) No fields to update", 100)
            photo = self.photos.get(request.form["cover"])
            if photo is None or photo.page_id != page_id:
                return graph_error("(#100) Invalid cover photo id for this Page", 100)
            page.cover = photo.id
            if request.form.get("no_feed_story") != "true":
                page.feed_stories.append(f"{page.name} updated their cover photo.")
            self.log.record(page_id, "banner", photo.data, 200)
            return jsonify(success=True)

        @app.get(f"{v}/<page_id>/picture")
        def picture(page_id: str):
            page = self.pages.get(page_id)
            if page is None:
                return graph_error(f"Object with ID '{page_id}' does not exist", 100, subcode=33)
            url = self._picture_url(page)
            if request.args.get("redirect") not in ("0", "false"):
                return redirect(url, 302)
            return jsonify(
                data={
                    "height": 200,
                    "width": 200,
                    "is_silhouette": page.picture is None,
                    "url": url,
                }
            )

        @app.get(f"{v}/<page_id>")
        def read_page(page_id: str):
            page, failure = self._page_token(page_id)
            if failure:
                return failure
            body: dict = {"id": page.id}
            fields = set(request.args.get("fields", "id,name").split(","))
            if "name" in fields:
                body["name"] = page.name
            if "cover" in fields and page.cover:
                body["cover"] = {
                    "cover_id": page.cover,
                    "id": page.cover,
                    "offset_x": 50,
                    "offset_y": 50,
                    "source": self._cdn_url(page.cover),
                }
            return jsonify(body)

        @app.get("/cdn/<photo_id>.jpg")
        def cdn(photo_id: str):
            photo = self.photos.get(photo_id)
            if photo is None or not request.args.get("oh"):
                return Response(status=404)
            return Response(photo.data, mimetype="image/jpeg")
