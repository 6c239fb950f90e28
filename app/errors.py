"""One error answer per caller: a full page, an htmx alert fragment, or JSON under /api/."""

import logging

from flask import Flask, Response, jsonify, request
from flask.globals import request_ctx
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError

from app.extensions import db
from app.htmx import is_htmx, render
from app.services.exceptions import DomainError

log = logging.getLogger(__name__)

FRIENDLY = {
    400: ("Bad request", "We could not understand that request. Reload the page and try again."),
    401: ("Please sign in", "You need to be signed in to see this page."),
    403: ("Not allowed", "You do not have access to this page."),
    404: ("Page not found", "There is nothing here. The link may be old, or the item was removed."),
    405: ("Not allowed here", "This address does not accept that kind of request."),
    409: ("Not possible now", "That cannot be done in its current state."),
    410: ("No longer available", "This link has expired and what it pointed to was deleted."),
    413: ("File too large", "That upload is larger than we accept."),
    415: ("Unsupported file", "We cannot use that kind of file."),
    422: ("Cannot use that", "Something in the request could not be used."),
    429: ("Slow down", "Too many attempts. Please wait a moment and try again."),
    500: ("Something went wrong", "An unexpected error happened on our side. It has been logged."),
    503: ("Temporarily unavailable", "A service we depend on is down. Please try again shortly."),
}


def human_size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:g} {unit}"
        size /= 1024
    return f"{size:g} GB"


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, message: str | None = None, code: str | None = None) -> Response:
    title, default_message = FRIENDLY.get(status, (f"Error {status}", "The request failed."))
    message = message or default_message
    if wants_json():
        response = jsonify(error=message, code=code or title.lower().replace(" ", "_"))
        response.status_code = status
        return response
    if request_ctx.url_adapter is None:
        # A Host outside TRUSTED_HOSTS gets no URL adapter, so no page (its links need url_for).
        return Response(f"{title}. {message}\n", status, mimetype="text/plain")
    response = render(
        "errors/error.html",
        "errors/partials/alert.html",
        status,
        title=title,
        message=message,
        code=status,
    )
    if is_htmx():
        # htmx would swap the error into whatever asked; show it in the page's alert area instead.
        response.headers["HX-Retarget"] = "#alerts"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


def handle_http_exception(exc: HTTPException) -> Response:
    if exc.code == 500:
        return handle_unexpected(exc)
    description = None
    if exc.code == 413:
        limit = request.max_content_length
        length = request.content_length
        if limit and (length is None or length > limit):
            description = f"That upload is larger than the {human_size(limit)} we accept."
        else:  # under the upload limit: one form field outgrew MAX_FORM_MEMORY_SIZE
            description = "A field in that form is longer than we accept."
    elif isinstance(exc, SecurityError):
        description = "This site does not answer to that host name."
    elif exc.description and exc.description != type(exc).description:
        description = exc.description  # a message the view chose for the person
    response = error_response(exc.code or 500, description)
    if exc.code == 405 and (allowed := exc.get_response().headers.get("Allow")):
        response.headers["Allow"] = allowed
    if exc.code == 429 and (retry := getattr(exc, "retry_after", None)):
        response.headers["Retry-After"] = str(retry)
    return response


def handle_domain_error(exc: DomainError) -> Response:
    db.session.rollback()
    return error_response(exc.status, exc.message, exc.code)


def handle_unexpected(exc: Exception) -> Response:
    db.session.rollback()
    original = getattr(exc, "original_exception", None) or exc
    log.error("unhandled error", exc_info=(type(original), original, original.__traceback__))
    return error_response(500)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(InternalServerError, handle_unexpected)
    app.register_error_handler(Exception, handle_unexpected)
