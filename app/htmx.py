"""Page-or-fragment rendering for htmx requests."""

from flask import Response, make_response, render_template, request


def is_htmx() -> bool:
    # A history restore needs the whole page even though htmx sends HX-Request with it.
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render(page: str, partial: str, status: int = 200, **context) -> Response:
    """Render the full `page`, or only `partial` when htmx asked; one URL, cached per kind."""
    response = make_response(render_template(partial if is_htmx() else page, **context), status)
    response.vary.add("HX-Request")
    return response


def hx_redirect(url: str) -> Response:
    """Navigate after an htmx mutation (a 302 would be swapped into the target instead)."""
    response = make_response("", 204)
    response.headers["HX-Redirect"] = url
    return response
