"""Domain errors: raised by services, translated to HTTP answers by app/errors.py."""


class DomainError(Exception):
    """A failure the caller can understand and act on; `status` is the HTTP answer it maps to."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class InvalidImage(DomainError):
    """The upload is not an image we accept (corrupt, too small, too many pixels, ...)."""

    status = 422
    code = "invalid_image"


class UnsupportedImageFormat(InvalidImage):
    status = 415
    code = "unsupported_format"
