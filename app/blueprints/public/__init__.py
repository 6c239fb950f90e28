"""The person's own page, /@<handle>, and image URLs that follow their current pictures."""

from flask import Blueprint

from app.infra import row_security

bp = Blueprint("public", __name__)


@bp.before_request
def read_public_pages() -> None:
    # A visitor is nobody; the page is found by its handle or link id across people. Ended with
    # the request (the request's own scope is put back at teardown).
    row_security.start(bypass="public page")


from app.blueprints.public import routes  # noqa: E402,F401
