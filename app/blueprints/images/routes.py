"""Thin routes: read the request, make one service call, commit, answer (page or htmx fragment)."""

from __future__ import annotations

from typing import Any

from flask import (
    Response,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy.orm import selectinload

from app.blueprints.images import bp
from app.blueprints.images.forms import read_crop, read_upload
from app.blueprints.images.limits import upload_limit
from app.downloads import attachment
from app.extensions import db
from app.htmx import hx_redirect, is_htmx, render
from app.models.image import Image, ImageKind, ImageStatus
from app.security import owned_or_404
from app.services.exceptions import NotFound
from app.services.images import library, pipeline, presets
from app.services.sync import auto

THUMBS = {ImageKind.AVATAR: "thumb_avatar_256", ImageKind.BANNER: "thumb_banner_600"}


@bp.app_template_filter("media_url")
def media_url(key: str | None) -> str:
    """A URL an <img> can load (LocalStorage: /media/<key>; S3: a presigned or CDN URL)."""
    return current_app.extensions["storage"].url(key) if key else ""


@bp.app_template_filter("filesize")
def filesize(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{max(1, round(size / 1000))} KB"


@bp.app_template_filter("preset")
def preset(key: str) -> presets.Preset | None:
    try:
        return presets.get(key)
    except presets.UnknownPreset:
        return None  # a variant made by a preset that has since been retired


def _owned(image_id: int) -> Image:
    return owned_or_404(Image, image_id)  # someone else's image looks exactly like a missing one


def _library(kind: ImageKind) -> list[Image]:
    query = Image.owned_by(current_user.id, kind).options(selectinload(Image.variants))
    return list(db.session.scalars(query))


def _card(image: Image, status: int = 200) -> Response:
    response = make_response(
        render_template("images/partials/card.html", image=image, thumbs=THUMBS), status
    )
    response.vary.add("HX-Request")
    return response


@bp.get("/images")
@login_required
def index() -> str:
    kind = request.args.get("kind", "avatar")
    return render_template(
        "images/index.html",
        avatars=_library(ImageKind.AVATAR),
        banners=_library(ImageKind.BANNER),
        thumbs=THUMBS,
        upload_kind=kind if kind in ("avatar", "banner") else "avatar",
        max_mb=(current_app.config["MAX_CONTENT_LENGTH"] or 0) // (1024 * 1024),
    )


@bp.post("/images")
@login_required
@upload_limit
def upload() -> Response:
    form = read_upload(request)
    image, created = library.create_upload(current_user.id, form.kind, form.data, form.filename)
    db.session.commit()  # the route owns the transaction; the processing job is queued now
    if is_htmx():
        return _card(image, 201 if created else 200)
    flash(
        "Uploaded. Your image is being prepared for every platform."
        if created
        else "You had already uploaded that image; here it is.",
        "success",
    )
    return redirect(url_for("images.index", kind=image.kind.value), 303)


@bp.get("/images/<int:image_id>/card")
@login_required
def card(image_id: int) -> Response:
    """The polled card: it stops polling by coming back without its hx-trigger once settled."""
    return _card(_owned(image_id))


@bp.route("/images/<int:image_id>/crop", methods=["GET", "POST"])
@login_required
def crop(image_id: int) -> Response:
    image = _owned(image_id)
    if request.method == "POST":
        library.save_crop(image, read_crop(request.form.get("crop")))
        db.session.commit()
        if not is_htmx():
            flash("Crop saved. Your files are being made again.", "success")
            return redirect(url_for("images.crop", image_id=image.id), 303)
    return render("images/crop.html", "images/partials/processed.html", **_crop_context(image))


def _crop_context(image: Image) -> dict[str, Any]:
    shown = [p for p in library.presets_for(image) if p.platform != "linkarooie"]
    avatar = db.session.scalar(
        Image.owned_by(current_user.id, ImageKind.AVATAR).where(Image.is_current.is_(True))
    )
    avatar_thumb = avatar.variant(THUMBS[ImageKind.AVATAR]) if avatar else None
    ready = image.status is ImageStatus.READY
    first = pipeline.first_box(image.focus, library.presets_for(image), image.width, image.height)
    return {
        # what the editor frames while the person has not (crop.js, like pipeline.first_crop)
        "first_box": first.to_json() if first else None,
        "image": image,
        "presets": shown,
        "presets_json": [presets.as_dict(p) for p in shown],
        "variants_json": {v.preset_key: media_url(v.storage_key) for v in image.variants}
        if ready
        else {},
        "avatar_url": media_url(avatar_thumb.storage_key) if avatar_thumb else "",
        "thumbs": THUMBS,
    }


@bp.post("/images/<int:image_id>/current")
@login_required
def set_current(image_id: int) -> Response:
    image = library.set_current(_owned(image_id))
    synced = auto.after_made_current(current_user, image)
    db.session.commit()  # the auto-sync's jobs, if any, are queued now
    if synced.release or synced.skipped:
        _flash_auto_sync(image, synced)
        back = url_for("images.index", kind=image.kind.value)
        # A full page, so the message with its link shows (the grid swap has no room for it).
        return hx_redirect(back) if is_htmx() else redirect(back, 303)
    if is_htmx():  # two cards change (the old current one too): send the whole grid
        return make_response(
            render_template(
                "images/partials/grid.html",
                kind=image.kind,
                images=_library(image.kind),
                thumbs=THUMBS,
            )
        )
    flash(f"That is now your {image.kind}.", "success")
    return redirect(url_for("images.index", kind=image.kind.value), 303)


def _flash_auto_sync(image: Image, synced: auto.AutoSync) -> None:
    if synced.release:
        watch = url_for("sync.show", request_id=synced.release.id)
        flash(
            Markup(
                "That is now your {kind}, and it is on its way to your default accounts: "
                '<a href="{watch}">watch the sync</a>.'
            ).format(kind=image.kind.value, watch=watch),
            "success",
        )
    else:
        flash(f"That is now your {image.kind}. It was not synced: {synced.skipped}", "info")


@bp.route("/images/<int:image_id>/delete", methods=["POST", "DELETE"])
@login_required
def delete(image_id: int) -> Response | str:
    image = _owned(image_id)
    # Deleting the image in use takes a second step (htmx asks with hx-confirm, then sends it).
    if image.is_current and request.values.get("confirm") != "yes":
        return render_template("images/confirm_delete.html", image=image, thumbs=THUMBS)
    kind = image.kind
    library.delete_image(image)
    db.session.commit()  # a job deletes the stored files nothing else uses
    if is_htmx():
        return make_response("", 200)  # the card swaps itself out
    flash("Image deleted.", "success")
    return redirect(url_for("images.index", kind=kind.value), 303)


@bp.get("/images/<int:image_id>/download/<preset_key>")
@login_required
def download(image_id: int, preset_key: str) -> Response:
    image = _owned(image_id)
    variant = image.variant(preset_key)
    if variant is None:
        raise NotFound("That image has no file for this platform yet.")
    data = current_app.extensions["storage"].get(variant.storage_key)
    ext = library.EXTENSIONS[variant.format]
    return attachment(data, variant.mime, f"linkarooie-{image.kind}-{variant.preset_key}.{ext}")
