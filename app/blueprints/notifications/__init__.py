"""Notifications: the bell's unread count, the list, marking read, email settings and the
one-click unsubscribe link from a mail. The rules live in app/services/notifications/."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from app.extensions import csrf, db
from app.input import ID_MAX
from app.models import Event
from app.security import across_people
from app.services.exceptions import DomainError
from app.services.notifications import events, preferences
from app.services.notifications.describe import describe

bp = Blueprint("notifications", __name__)

PAGE_SIZE = 30


@bp.app_context_processor
def bell_count() -> dict[str, Any]:
    def unread_notifications() -> int:
        return events.unread_count(current_user.id) if current_user.is_authenticated else 0

    return {"unread_notifications": unread_notifications}


def _items(rows) -> list[dict[str, Any]]:
    items = []
    for event in rows:
        described = describe(event)
        link = url_for(described.endpoint, **described.values) if described.endpoint else None
        items.append({"event": event, "d": described, "link": link})
    return items


@bp.get("/notifications")
@login_required
def index():
    raw = request.args.get("before", "")
    before = None
    if raw:
        if not raw.isdigit() or not 0 < int(raw) <= ID_MAX:
            abort(400, "Page through the notifications with the links below the list.")
        before = int(raw)
    rows = events.latest(current_user.id, limit=PAGE_SIZE + 1, before=before)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return render_template(
        "notifications/index.html",
        items=_items(rows),
        older=rows[-1].id if more and rows else None,
        unread=events.unread_count(current_user.id),
    )


@bp.get("/notifications/bell")
def bell():
    """The header's count, polled by htmx: one COUNT query, and 304 while it has not changed.
    Signed out (the session ended in another tab): 204, so htmx leaves the header alone rather
    than swapping a sign-in page into it."""
    if not current_user.is_authenticated:
        return "", 204
    count = events.unread_count(current_user.id)
    response = make_response(render_template("notifications/_bell.html", count=count))
    response.set_etag(f"bell-{current_user.id}-{count}")
    response.headers["Cache-Control"] = "private, no-cache"
    return response.make_conditional(request)


def _after_marking(template: str, **context: Any):
    if request.headers.get("HX-Request"):
        response = make_response(render_template(template, **context))
        response.headers["HX-Trigger"] = "notifications-read"  # the bell refreshes its count
        return response
    return redirect(url_for("notifications.index"))


@bp.post("/notifications/<int:event_id>/read")
@login_required
def read(event_id: int):
    event = db.session.get(Event, event_id)
    if event is None or event.user_id != current_user.id:
        abort(404)
    events.mark_read(current_user.id, event_id)
    db.session.commit()
    return _after_marking("notifications/_item.html", item=_items([event])[0])


@bp.post("/notifications/read")
@login_required
def read_all():
    events.mark_read(current_user.id)
    db.session.commit()
    rows = events.latest(current_user.id, limit=PAGE_SIZE)
    return _after_marking("notifications/_list.html", items=_items(rows))


@bp.get("/settings/notifications")
@login_required
def settings():
    return _settings_page(preferences.email_choices(current_user))


def _settings_page(choices: dict[str, bool], status: int = 200, error: str | None = None):
    body = render_template(
        "notifications/settings.html",
        choices=choices,
        label=preferences.label,
        error=error,
    )
    return body, status


@bp.post("/settings/notifications")
@login_required
def save_settings():
    ticked = set(request.form.getlist("email"))
    try:
        preferences.save_email_choices(current_user, ticked)
    except DomainError as exc:
        db.session.rollback()
        return _settings_page(preferences.email_choices(current_user), exc.status, exc.message)
    db.session.commit()
    flash("Notification settings saved.", "success")
    return redirect(url_for("notifications.settings"))


@bp.route("/notifications/unsubscribe/<token>", methods=["GET", "POST"])
# RFC 8058 one-click: the mail client POSTs with no session; the signed link is the proof.
@csrf.exempt
@across_people("unsubscribe link")
def unsubscribe(token: str):
    user, type = preferences.read_unsubscribe(token)
    if request.method == "POST":
        preferences.set_email(user, type, False)
        db.session.commit()
        return render_template("notifications/unsubscribed.html", label=preferences.label(type))
    return render_template(
        "notifications/unsubscribe.html", label=preferences.label(type), token=token
    )
