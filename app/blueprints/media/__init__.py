"""Serves LocalStorage files in development and tests; with S3 the browser fetches from S3/CDN.

Only what the pipeline made (metadata stripped) is served: originals keep their EXIF and GPS and
are private. Keys are per owner and unguessable (app/services/images/keys.py), so a URL never
tells anyone whether somebody else uploaded the same bytes.
"""

from flask import Blueprint, Response, abort, current_app, send_file

from app.infra.storage import InvalidStorageKey, LocalStorage, StorageKeyNotFound, public_key

bp = Blueprint("media", __name__, url_prefix="/media")


@bp.get("/<path:key>")
def file(key: str) -> Response:
    storage = current_app.extensions.get("storage")
    if not isinstance(storage, LocalStorage):
        abort(404)
    try:
        # validates the key: "..", absolute and hidden paths, and originals are refused
        obj = storage.stat(public_key(key))
    except (InvalidStorageKey, StorageKeyNotFound):
        abort(404)
    # conditional=True answers If-None-Match / If-Modified-Since / Range from the file's ETag
    response = send_file(obj.path, mimetype=obj.content_type, conditional=True, etag=True)
    response.headers["Cache-Control"] = obj.cache_control  # as given to put(), like S3
    response.headers.pop("Expires", None)
    response.headers["X-Content-Type-Options"] = "nosniff"
    # user uploads share the app's origin: never let one run script (e.g. an SVG or HTML file)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
