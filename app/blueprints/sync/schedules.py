"""The scheduled looks page (/sync/schedules): schedule a look for a date and time in the
person's time zone, optionally reverted later; see and cancel what is pending. The rules live
in app/services/sync/schedules.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.blueprints.sync import bp
from app.blueprints.sync.routes import THUMBS, _library
from app.extensions import db
from app.htmx import is_htmx
from app.input import ID_MAX
from app.models import ImageKind, ScheduledRelease
from app.security import owned_or_404
from app.services.sync import schedules

FORM_FIELDS = ("avatar_id", "banner_id", "at", "revert_at", "time_zone")


@bp.app_template_filter("zoned")
def zoned(moment: datetime | None, zone: ZoneInfo) -> str:
    """ "Thu 24 Dec 2026, 18:00 CET": a stored UTC time as the person reads it."""
    return moment.astimezone(zone).strftime("%a %d %b %Y, %H:%M %Z") if moment else ""


def _page(status: int = 200, fields: dict[str, str] | None = None, error: str | None = None):
    zone = schedules.zone_of(current_user)
    avatars, banners = _library(ImageKind.AVATAR), _library(ImageKind.BANNER)
    submitted = fields is not None
    form = {name: request.form.get(name, "") for name in FORM_FIELDS} if submitted else {}
    body = render_template(
        "sync/schedules.html",
        items=schedules.listing(current_user),
        avatars=avatars,
        banners=banners,
        thumbs=THUMBS,
        zone=zone,
        zones=schedules.zone_names(),
        zone_chosen=current_user.time_zone is not None,
        form=form,
        submitted=submitted,
        profile_checked=request.form.get("profile") == "on" if submitted else False,
        fields=fields or {},
        error=error,
        now_local=datetime.now(zone).strftime("%Y-%m-%dT%H:%M"),
    )
    return body, status


def _image_id(raw: str | None) -> int | None:
    """An image id from the form; "" means "leave this slot as it is"."""
    value = (raw or "").strip()
    if value == "":
        return None
    if not value.isdigit() or not 0 < int(value) <= ID_MAX:
        raise schedules.ScheduleInvalid({"avatar_id": "Choose the images from the list."})
    return int(value)


@bp.get("/sync/schedules")
@login_required
def schedules_page() -> Any:
    return _page()


@bp.post("/sync/schedules")
@login_required
def create_schedule() -> Any:
    try:
        schedule = schedules.create(
            current_user,
            avatar_id=_image_id(request.form.get("avatar_id")),
            banner_id=_image_id(request.form.get("banner_id")),
            profile=request.form.get("profile") == "on",
            at=request.form.get("at", ""),
            revert_at=request.form.get("revert_at", "").strip() or None,
            time_zone=request.form.get("time_zone"),  # absent: keep the saved zone
        )
    except schedules.ScheduleInvalid as invalid:
        db.session.rollback()
        return _page(422, invalid.fields, "The look was not scheduled. Check the fields below.")
    db.session.commit()  # its delayed job is queued now
    when = zoned(schedule.at, schedules.zone_of(current_user))
    flash(f"Scheduled for {when}.", "success")
    return redirect(url_for("sync.schedules_page"), 303)


@bp.post("/sync/schedules/<int:scheduled_release_id>/cancel")
@login_required
def cancel_schedule(scheduled_release_id: int) -> Any:
    schedule = owned_or_404(ScheduledRelease, scheduled_release_id)
    schedules.cancel(schedule)
    db.session.commit()
    if is_htmx():
        return render_template(
            "sync/partials/schedule_row.html",
            item=schedule,
            zone=schedules.zone_of(current_user),
            thumbs=THUMBS,
        )
    flash("Schedule cancelled.", "success")
    return redirect(url_for("sync.schedules_page"), 303)
