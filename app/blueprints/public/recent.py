"""Public pages answered from the last second's rendering, before Flask builds a request.

A popular /@handle is the same bytes for every visitor (routes.py reads no session), so each
process keeps the latest 200 it rendered for PUBLIC_PAGE_CACHE_SECONDS and hands it out again
(or a 304 when the visitor's ETag matches) without a request context, the hooks or the database.
Flask's own per-request work is most of a page's cost; this is what lets a page linked from
somewhere busy keep up. A change (an edit, going private) shows at most that much later, as with
the lookups routes.py already reuses. Only answers with no cookie of their own are kept, and
each served copy gets its own X-Request-ID, metrics, log line and page view, as the view's
would.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable

from flask import Flask

from app.logconfig import log_request, request_id_var
from app.services import analytics
from app.services.ops import metrics

PAGE_PATH = re.compile(r"/@[^/]{1,30}")
ENDPOINT = "public.page"
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
ENTRIES = 2_000
# The view's answer headers that a copy repeats; the rest (the request id) are per request.
PER_REQUEST = {"x-request-id"}
CONDITIONAL = {"HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE"}
OWNER = "linkarooie.page_owner"  # the view leaves the page owner's user id here


class Page:
    __slots__ = ("body", "etag", "headers", "owner", "stored")

    def __init__(
        self, headers: list[tuple[str, str]], body: bytes, stored: float, owner: int
    ) -> None:
        self.headers, self.body, self.stored, self.owner = headers, body, stored, owner
        self.etag = next((v for k, v in headers if k.lower() == "etag"), None)


class RecentPublicPages:
    def __init__(self, app: Flask, wsgi_app: Callable) -> None:
        self.app, self.wsgi_app = app, wsgi_app
        self.pages: dict[tuple, Page] = {}

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        seconds = self.app.config["PUBLIC_PAGE_CACHE_SECONDS"]
        method = environ.get("REQUEST_METHOD")
        if (
            seconds <= 0
            or method not in ("GET", "HEAD")
            or environ.get("QUERY_STRING")
            or not PAGE_PATH.fullmatch(environ.get("PATH_INFO", ""))
        ):
            return self.wsgi_app(environ, start_response)
        started = time.perf_counter()
        # Without PUBLIC_URL the page's absolute links follow the host asked for.
        key = (environ["PATH_INFO"], environ.get("HTTP_HOST"), environ.get("wsgi.url_scheme"))
        page = self.pages.get(key)
        if page is not None and time.monotonic() - page.stored < seconds:
            return self._answer(page, environ, start_response, started)
        return self._render(key, environ, start_response, started)

    def _answer(
        self,
        page: Page,
        environ: dict,
        start_response: Callable,
        started: float,
        rendered_as: str | None = None,
    ) -> Iterable[bytes]:
        """The kept page, or a 304 for a visitor holding its ETag. `rendered_as`: the request id
        of the view that has just rendered it (and already counted and logged this request)."""
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = rendered_as or (
            incoming if REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        )
        revalidated = page.etag is not None and page.etag in environ.get("HTTP_IF_NONE_MATCH", "")
        if revalidated:
            status, body = 304, b""
            headers = [(k, v) for k, v in page.headers if k.lower() != "content-length"]
        else:
            status, body = 200, page.body
            headers = list(page.headers)
        start_response(
            "304 NOT MODIFIED" if revalidated else "200 OK",
            [*headers, ("X-Request-ID", request_id)],
        )
        body = body if environ["REQUEST_METHOD"] == "GET" else b""
        if rendered_as:
            return [body]
        if environ["REQUEST_METHOD"] == "GET":
            analytics.recorder(self.app).add_visit("page_view", page.owner, environ)
        seconds = time.perf_counter() - started
        metrics.observe_request(ENDPOINT, environ["REQUEST_METHOD"], status, seconds)
        token = request_id_var.set(request_id)
        try:
            log_request(
                environ["REQUEST_METHOD"],
                environ["PATH_INFO"],
                status,
                seconds,
                remote_addr=environ.get("REMOTE_ADDR"),
            )
        finally:
            request_id_var.reset(token)
        return [body]

    def _render(
        self, key: tuple, environ: dict, start_response: Callable, started: float
    ) -> Iterable[bytes]:
        """Let the view answer; keep a plain public 200 and answer from it."""
        if environ["REQUEST_METHOD"] != "GET":
            return self.wsgi_app(environ, start_response)
        # The view is asked unconditionally, so a revalidating visitor still leaves a whole page
        # to keep (else every returning visitor would reach Flask); the 304 is decided here.
        plain = {k: v for k, v in environ.items() if k not in CONDITIONAL}
        answer: dict = {}

        def hold(status: str, headers: list[tuple[str, str]], exc_info=None):
            answer["status"], answer["headers"] = status, headers
            return lambda data: answer.setdefault("written", []).append(data)

        result = self.wsgi_app(plain, hold)
        try:
            body = b"".join([*answer.get("written", []), *result])
        finally:
            if hasattr(result, "close"):
                result.close()
        status, headers = answer["status"], answer["headers"]
        names = {name.lower() for name, _ in headers}
        cache_control = next((v for k, v in headers if k.lower() == "cache-control"), "")
        if (
            status.startswith("200 ")
            and "set-cookie" not in names
            and cache_control.startswith("public")
        ):
            if len(self.pages) >= ENTRIES:
                self.pages.clear()  # crude, and rare: a cache this full is mostly stale anyway
            kept = [(k, v) for k, v in headers if k.lower() not in PER_REQUEST]
            page = Page(kept, body, time.monotonic(), plain[OWNER])
            self.pages[key] = page
            rendered_as = next((v for k, v in headers if k.lower() == "x-request-id"), "")
            return self._answer(page, environ, start_response, started, rendered_as)
        start_response(status, headers)
        return [body]

    def forget_owner(self, user_id: int) -> None:
        """Stop answering a deleted person's page from the copy kept here."""
        for key in [k for k, page in self.pages.items() if page.owner == user_id]:
            self.pages.pop(key, None)


def answer_recent_public_pages(app: Flask) -> None:
    cache = RecentPublicPages(app, app.wsgi_app)
    app.extensions["recent_public_pages"] = cache
    app.wsgi_app = cache  # type: ignore[method-assign]
