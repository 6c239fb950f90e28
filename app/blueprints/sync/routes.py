"""Thin routes for syncing: the choose page, the live status page and its polled partial,
retrying a task, the history of releases and restoring one."""

from __future__ import annotations

from datetime import UTC, datetime
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

from app.blueprints.sync import bp
from app.downloads import attachment
from app.extensions import db
from app.htmx import is_htmx
from app.input import ID_MAX
from app.models import Image, ImageKind, ImageStatus, Profile, SyncRequest, SyncTask
from app.security import owned_or_404
from app.services.exceptions import DomainError, NotFound
from app.services.platforms import connections
from app.services.profiles import fitting
from app.services.sync import engine, manual, preferences, progress, releases

THUMBS = {"avatar": "thumb_avatar_128", "banner": "thumb_banner_600"}
POLL = "every 1500ms"
STOP_POLLING = 286  # htmx stops an `every` trigger on this status
IMAGE_FIELDS = ("avatar_id", "banner_id")


@bp.app_template_filter("relative_time")
def relative_time(moment: datetime | None, future: bool = False) -> str:
    """ "in 12 s", "3 min ago": the first rendering; static/js/sync.js keeps it ticking.
    `future`: a moment that is due is "any moment now" (a next try), never "ago"."""
    if moment is None:
        return ""
    seconds = round((moment - datetime.now(UTC)).total_seconds())
    if future and seconds <= 0:
        return "any moment now"
    size = abs(seconds)
    if size < 60:
        text = f"{size} s"
    elif size < 3600:
        text = f"{size // 60} min"
    elif size < 86400:
        text = f"{size // 3600} h"
    else:
        text = f"{size // 86400} d"
    if size < 1:
        return "now"
    return f"in {text}" if seconds > 0 else f"{text} ago"


@bp.app_template_global("manual_guide")
def manual_guide(task: SyncTask) -> dict[str, Any]:
    """What a manual step's row shows: the platform (settings link, steps) and the files."""
    return {"platform": manual.platform_of(task), "files": manual.files(task)}


# Choosing and starting


def _library(kind: ImageKind) -> list[Image]:
    query = Image.owned_by(current_user.id, kind).where(Image.status != ImageStatus.FAILED)
    return list(db.session.scalars(query))


def _choose_page(status: int = 200, error: str | None = None) -> Any:
    accounts = connections.accounts_of(current_user)
    avatars, banners = _library(ImageKind.AVATAR), _library(ImageKind.BANNER)
    submitted = error is not None
    chosen = {
        "avatar": _field(request.form.get("avatar_id")) if submitted else _current_id(avatars),
        "banner": _field(request.form.get("banner_id")) if submitted else _current_id(banners),
        "accounts": set(_ids(request.form.getlist("account_ids")))
        if submitted
        else {a.id for a in preferences.targets(current_user)},
        "profile": submitted and request.form.get("profile") == "1",
    }
    body = render_template(
        "sync/index.html",
        has_text=not fitting.is_empty(fitting.snapshot(db.session.get(Profile, current_user.id))),
        preview=_preview_context(sorted(chosen["accounts"]), _profile_account_ids()),
        accounts=accounts,
        connected=[a for a in accounts if a.is_usable],
        avatars=avatars,
        banners=banners,
        chosen=chosen,
        thumbs=THUMBS,
        error=error,
        latest=releases.latest(current_user),
    )
    return body, status


def _current_id(images: list[Image]) -> int | None:
    return next((image.id for image in images if image.is_current), None)


def _field(raw: str | None) -> int | None:
    """An id from the form; "" means "leave this slot as it is"."""
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip()
    if not value.isdigit() or not 0 < int(value) <= ID_MAX:
        raise DomainError("Choose the images from the list.", status=422)
    return int(value)


def _ids(raw: list[str]) -> list[int]:
    return [i for i in (_field(value) for value in raw) if i is not None]


def _profile_account_ids() -> list[int] | None:
    """The accounts ticked in the profile text preview; None until the preview was shown (every
    account that takes text)."""
    values = request.values
    if values.get("profile_choice") != "1":
        return None
    # Accounts ticked above after the preview was drawn (no JavaScript) were never unticked
    shown = set(_ids(values.getlist("profile_shown")))
    ticked = _ids(values.getlist("profile_account_ids"))
    return ticked + [i for i in _ids(values.getlist("account_ids")) if i not in shown]


def _preview_context(account_ids: list[int], ticked: list[int] | None) -> dict[str, Any]:
    previews, without = releases.text_preview(current_user, account_ids)
    return {"previews": previews, "without": without, "ticked": ticked}


@bp.get("/sync")
@login_required
def index() -> Any:
    return _choose_page()


@bp.get("/sync/profile-preview")
@login_required
def profile_preview() -> str:
    """The choose page's "Profile text" preview for the accounts ticked there (htmx)."""
    account_ids = _ids(request.args.getlist("account_ids"))
    return render_template(
        "sync/partials/profile_preview.html",
        preview=_preview_context(account_ids, _profile_account_ids()),
    )


@bp.post("/sync")
@login_required
def start() -> Any:
    chose = any(key in request.form for key in (*IMAGE_FIELDS, "account_ids", "choose"))
    if not chose and not connections.connected_accounts(current_user):
        # "Sync everywhere" before anything is connected: lead the way instead of an error.
        flash("Connect an account first: there is nowhere to sync to yet.", "info")
        return redirect(url_for("connections.index"), 303)
    try:
        if chose:
            release = releases.start(
                current_user,
                avatar_id=_field(request.form.get("avatar_id")),
                banner_id=_field(request.form.get("banner_id")),
                account_ids=_ids(request.form.getlist("account_ids")),
                use_current=False,
                profile=request.form.get("profile") == "1",
                profile_account_ids=_profile_account_ids(),
            )
        else:
            release = releases.start(current_user)
        db.session.commit()  # the push jobs are queued now
    except DomainError as exc:
        db.session.rollback()
        return _choose_page(exc.status, error=exc.message)
    return redirect(url_for("sync.show", request_id=release.id), 303)


# Watching a release


@bp.get("/sync/<int:request_id>")
@login_required
def show(request_id: int) -> str:
    release = owned_or_404(SyncRequest, request_id)
    return render_template("sync/show.html", release=release, thumbs=THUMBS, poll=POLL)


def _status_fragment(release: SyncRequest) -> str:
    return render_template("sync/partials/status.html", release=release, poll=POLL)


@bp.get("/sync/<int:request_id>/status")
def status(request_id: int) -> Response:
    """The polled partial. An unchanged release never gets here: polls.py answers it 304 from
    the session cookie and the version stamp alone, before Flask builds a request."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    release = owned_or_404(SyncRequest, request_id)
    stamp = progress.current(request_id)
    if stamp is None:  # first poll since a restart (or Redis lost it): start counting again
        progress.versions().bump(release.id, release.user_id)
        stamp = progress.current(request_id)
    # Polling stops once no automatic work is left; manual steps change only when the person
    # presses a button on this page, and that answer brings the new rows.
    code = STOP_POLLING if release.is_settled else 200
    response = make_response(_status_fragment(release), code)
    return _cacheable(response, stamp.etag if stamp else None)


def _cacheable(response: Response, etag: str | None) -> Response:
    if etag:
        response.set_etag(etag)
    response.headers["Cache-Control"] = "private, no-cache"  # the browser revalidates each poll
    return response


@bp.post("/sync/tasks/<int:task_id>/retry")
@login_required
def retry(task_id: int) -> Any:
    task = owned_or_404(SyncTask, task_id)
    engine.retry(task)
    db.session.commit()  # its job is queued now
    release = db.session.get(SyncRequest, task.request_id)
    if is_htmx():
        return _status_fragment(release)
    flash("Trying again.", "success")
    return redirect(url_for("sync.show", request_id=release.id), 303)


# Manual steps (platforms without an API)


def _manual_step(task_id: int, action, message: str) -> Any:
    task = owned_or_404(SyncTask, task_id)
    try:
        action(task)
    except DomainError as exc:
        db.session.rollback()
        if is_htmx():
            return make_response(exc.message, exc.status)
        flash(exc.message, "error")
        return redirect(url_for("sync.show", request_id=task.request_id), 303)
    db.session.commit()
    release = db.session.get(SyncRequest, task.request_id)
    if is_htmx():
        return _status_fragment(release)
    flash(message, "success")
    return redirect(url_for("sync.show", request_id=release.id), 303)


@bp.post("/sync/tasks/<int:task_id>/done")
@login_required
def task_done(task_id: int) -> Any:
    return _manual_step(task_id, manual.mark_done, "Marked done.")


@bp.post("/sync/tasks/<int:task_id>/dismiss")
@login_required
def task_dismiss(task_id: int) -> Any:
    return _manual_step(task_id, manual.dismiss, "Dismissed; this release no longer waits for it.")


@bp.post("/sync/tasks/<int:task_id>/reopen")
@login_required
def task_reopen(task_id: int) -> Any:
    return _manual_step(task_id, manual.reopen, "Back on your list.")


@bp.get("/sync/<int:request_id>/tasks/<int:task_id>/files/<preset>")
@login_required
def task_file(request_id: int, task_id: int, preset: str) -> Response:
    task = owned_or_404(SyncTask, task_id)
    if task.request_id != request_id:
        raise NotFound("That file is not part of this release.")
    manual_file, data = manual.file_of(task, preset)
    return attachment(data, manual_file.mime, manual_file.filename)


@bp.get("/sync/<int:request_id>/manual.zip")
@login_required
def manual_zip(request_id: int) -> Response:
    filename, data = manual.zip_of(owned_or_404(SyncRequest, request_id))
    return attachment(data, "application/zip", filename)


# History


@bp.get("/history")
@login_required
def history() -> str:
    return render_template(
        "sync/history.html", releases=releases.history(current_user), thumbs=THUMBS
    )


@bp.post("/history/<int:request_id>/restore")
@login_required
def restore(request_id: int) -> Response:
    earlier = owned_or_404(SyncRequest, request_id)
    release = releases.restore(current_user, earlier)
    db.session.commit()
    flash("Restoring that look everywhere.", "success")
    return redirect(url_for("sync.show", request_id=release.id), 303)
