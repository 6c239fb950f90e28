"""Images over the JSON API: upload, list, read, make current, delete, and the output presets.

Every error is {"error": "<readable reason>", "code": ...} with a 4xx status (app/errors.py).
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request
from sqlalchemy.orm import selectinload

from app.blueprints.api import api_user, bp
from app.blueprints.images.forms import read_upload
from app.blueprints.images.limits import upload_limit
from app.extensions import db
from app.models.image import Image
from app.security import owned_or_404
from app.services.images import library, presets
from app.services.sync import auto


def _image_json(image: Image) -> dict[str, Any]:
    url = current_app.extensions["storage"].url
    return {
        "id": image.id,
        "kind": image.kind.value,
        "status": image.status.value,
        "current": image.is_current,
        "width": image.width,
        "height": image.height,
        "error": image.error,
        # where the subject is, when one was found: what the first crop is centred on
        "focus": image.focus if (image.focus or {}).get("source") in ("face", "salient") else None,
        "variants": [
            {
                "preset": v.preset_key,
                "width": v.width,
                "height": v.height,
                "bytes": v.bytes,
                "format": v.format,
                "url": url(v.storage_key),
            }
            for v in image.variants
        ],
    }


@bp.post("/images")
@upload_limit
def create_image() -> tuple[Response, int]:
    form = read_upload(request)
    image, _ = library.create_upload(api_user().id, form.kind, form.data, form.filename)
    db.session.commit()  # processing is queued now
    return jsonify(id=image.id, kind=image.kind.value, status=image.status.value), 202


@bp.get("/images")
def list_images() -> Response:
    query = Image.owned_by(api_user().id).options(selectinload(Image.variants))
    return jsonify([_image_json(image) for image in db.session.scalars(query)])


@bp.get("/images/<int:image_id>")
def get_image(image_id: int) -> Response:
    return jsonify(_image_json(owned_or_404(Image, image_id, owner=api_user())))


@bp.post("/images/<int:image_id>/current")
def make_current(image_id: int) -> Response:
    """What the library's "Use as avatar/banner" button does: the image becomes the current one
    of its kind (a sync with null image ids then pushes it). With auto-sync on in the person's
    sync preferences it is also pushed to their default accounts, and `sync_id` says which
    release does it."""
    user = api_user()
    image = library.set_current(owned_or_404(Image, image_id, owner=user))
    synced = auto.after_made_current(user, image)
    db.session.commit()  # the auto-sync's jobs, if any, are queued now
    body = _image_json(image)
    if synced.release:
        body["sync_id"] = synced.release.id
    return jsonify(body)


@bp.delete("/images/<int:image_id>")
def delete_image(image_id: int) -> tuple[str, int]:
    library.delete_image(owned_or_404(Image, image_id, owner=api_user()))
    db.session.commit()  # a job deletes the stored files nothing else uses
    return "", 204


@bp.get("/presets")
def list_presets() -> Response:
    keys = ("key", "kind", "platform", "width", "height", "max_bytes", "formats")
    return jsonify([{k: d[k] for k in keys} for d in map(presets.as_dict, presets.PRESETS)])
