"""Request shapes for uploads and crops, shared by the web pages and the JSON API.

Only shape here (a file is present, the crop is JSON); the image rules live in the pipeline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Request

from app.models.image import ImageKind
from app.services.exceptions import DomainError
from app.services.images.library import parse_kind


@dataclass(frozen=True)
class Upload:
    kind: ImageKind
    data: bytes
    filename: str


def read_upload(request: Request) -> Upload:
    """The multipart fields `file` and `kind`; raises DomainError (400) when one is missing."""
    kind = parse_kind(request.form.get("kind"))
    file = request.files.get("file")
    if file is None or (not file.filename and not file.content_length):
        raise DomainError("Choose an image file to upload.", status=400, code="file_missing")
    # Neither the name nor the browser's Content-Type is trusted: the pipeline sniffs the bytes.
    return Upload(kind, file.read(), file.filename or "")


def read_crop(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "")
    except ValueError:
        raise DomainError(
            "The crop could not be read. Reload the page and try again.",
            status=422,
            code="invalid_crop",
        ) from None
    if not isinstance(value, dict):
        raise DomainError("The crop must be a JSON object.", status=422, code="invalid_crop")
    return value
