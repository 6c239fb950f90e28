"""Unchanged status polls answered before Flask builds a request.

A page watching a sync polls its status every 1.5 s. While nothing changed, the answer is a 304
decided by two facts: who is asking (the signed session cookie) and the release's version stamp
(services/sync/progress.py, in Redis or this process). This WSGI layer checks exactly those and
answers, skipping the request context, the hooks, the session object and the database; anything
else (a changed release, no cookie, a stranger's release) goes on to the Flask view, which
renders the status and sets the new ETag.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable

from flask import Flask
from itsdangerous import BadSignature
from werkzeug.http import parse_cookie

from app.services.ops import metrics
from app.services.sync import progress

STATUS_PATH = re.compile(r"/sync/([1-9][0-9]{0,9})/status")
STATUS_ENDPOINT = "sync.status"  # the view that answers the same URL when something changed
# A page polls every 1.5 s, and one process answers many pages: a stamp read in the last quarter
# second is good enough (a change shows at most that much later), and a cookie verified once is
# the same cookie a minute later.
STAMP_SECONDS = 0.25
COOKIE_SECONDS = 60.0
CACHE_ENTRIES = 10_000


class UnchangedStatusPolls:
    def __init__(self, app: Flask, wsgi_app: Callable) -> None:
        self.app, self.wsgi_app = app, wsgi_app
        self._versions: progress.MemoryVersions | progress.RedisVersions | None = None
        self._stamps: dict[int, tuple[float, progress.Stamp | None]] = {}
        self._cookies: dict[str, tuple[float, int | None]] = {}

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        etag = self._unchanged(environ)
        if etag is None:
            return self.wsgi_app(environ, start_response)
        start_response(
            "304 NOT MODIFIED", [("ETag", f'"{etag}"'), ("Cache-Control", "private, no-cache")]
        )
        # Flask's hooks never see these answers: count them here, as the view would be counted.
        metrics.observe_request(STATUS_ENDPOINT, "GET", 304, time.perf_counter() - started)
        return [b""]

    def _unchanged(self, environ: dict) -> str | None:
        if environ.get("REQUEST_METHOD") != "GET" or "HTTP_IF_NONE_MATCH" not in environ:
            return None
        match = STATUS_PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None:
            return None
        user_id = self._signed_in_user_id(environ)
        if user_id is None:
            return None
        stamp = self._stamp(int(match[1]))
        if stamp is None or stamp.owner_id != user_id:
            return None
        return stamp.etag if f'"{stamp.etag}"' in environ["HTTP_IF_NONE_MATCH"] else None

    def _stamp(self, request_id: int) -> progress.Stamp | None:
        now = time.monotonic()
        cached = self._stamps.get(request_id)
        if cached is not None and now - cached[0] < STAMP_SECONDS:
            return cached[1]
        if self._versions is None:
            with self.app.app_context():
                self._versions = progress.versions()
        try:
            stamp = self._versions.read(request_id)
        except Exception:  # Redis away: let the view answer from the database
            return None
        _remember(self._stamps, request_id, (now, stamp))
        return stamp

    def _signed_in_user_id(self, environ: dict) -> int | None:
        app = self.app
        cookie = parse_cookie(environ).get(app.config["SESSION_COOKIE_NAME"])
        if not cookie:
            return None
        now = time.monotonic()
        cached = self._cookies.get(cookie)
        if cached is not None and now - cached[0] < COOKIE_SECONDS:
            return cached[1]
        serializer = app.session_interface.get_signing_serializer(app)
        try:
            data = serializer.loads(
                cookie, max_age=int(app.permanent_session_lifetime.total_seconds())
            )
        except (BadSignature, AttributeError):
            return None
        # Flask-Login keeps "<user id>:<session version>:<session key>" (app/security.py).
        head = str(data.get("_user_id") or "").split(":", 1)[0]
        user_id = int(head) if head.isdigit() else None
        _remember(self._cookies, cookie, (now, user_id))
        return user_id


def _remember(cache: dict, key, value) -> None:
    if len(cache) >= CACHE_ENTRIES:
        cache.clear()  # crude, and rare: a cache this full is mostly stale anyway
    cache[key] = value


def answer_unchanged_polls(app: Flask) -> None:
    app.wsgi_app = UnchangedStatusPolls(app, app.wsgi_app)  # type: ignore[method-assign]
