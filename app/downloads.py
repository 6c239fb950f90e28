"""A file answered as a download (never shown inline, never cached by a shared cache)."""

from collections.abc import Iterator
from typing import IO

from flask import Response, make_response, stream_with_context

CHUNK = 1024 * 1024


def attachment(data: bytes, mime: str, filename: str) -> Response:
    response = make_response(data)
    response.headers["Content-Type"] = mime
    return _as_attachment(response, filename)


def streamed_attachment(
    source: IO[bytes], mime: str, filename: str, size: int | None = None
) -> Response:
    """`source` (an open stream, closed at the end) sent a chunk at a time: a large stored file
    passes through without ever being held whole."""

    def chunks() -> Iterator[bytes]:
        try:
            while chunk := source.read(CHUNK):
                yield chunk
        finally:
            source.close()

    response = Response(stream_with_context(chunks()), mimetype=mime)
    if size:
        response.content_length = size
    return _as_attachment(response, filename)


def _as_attachment(response: Response, filename: str) -> Response:
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
