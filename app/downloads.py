"""A file answered as a download (never shown inline, never cached by a shared cache)."""

from flask import Response, make_response


def attachment(data: bytes, mime: str, filename: str) -> Response:
    response = make_response(data)
    response.headers["Content-Type"] = mime
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
