"""Admin pages about people: the user list (make / revoke admin) and the audit log."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.blueprints.admin import bp
from app.blueprints.auth.deletion import confirmation_word, matches
from app.blueprints.auth.forms import DeleteAccountForm
from app.blueprints.auth.reauth import confirm_url, recently_authenticated
from app.blueprints.auth.session import client_ip
from app.extensions import db
from app.models import User
from app.services.exceptions import DomainError, NotFound
from app.services.ops import audit_log
from app.services.ops import users as people
from app.services.ops.paging import clean_text, page_number


@bp.get("/users", endpoint="users")
def users_page() -> str:
    q = clean_text(request.args.get("q", ""), people.SEARCH_MAX)
    found = people.search(q, page_number(request.args.get("page", 1)))
    return render_template("admin/users.html", page=found, q=q, counts=people.counts())


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("There is no user with that id; they may have deleted their account.")
    return user


def _back() -> Response:
    # Back to the list as the admin left it (search and page), never to another site.
    args = {k: v for k in ("q", "page") if (v := request.form.get(k, "").strip()[:200])}
    return redirect(url_for("admin.users", **args))


@bp.post("/users/<int:user_id>/admin")
def make_admin(user_id: int) -> Response:
    user = _user(user_id)
    if people.make_admin(user, current_user, ip=client_ip()):
        flash(f"{user.email} is now an admin.", "success")
    else:
        flash(f"{user.email} was already an admin.", "info")
    db.session.commit()
    return _back()


@bp.post("/users/<int:user_id>/admin/revoke")
def revoke_admin(user_id: int) -> Response:
    user = _user(user_id)
    try:
        revoked = people.revoke_admin(user, current_user, ip=client_ip())
    except DomainError as refused:
        # Said on the list the admin is looking at, rather than on an error page.
        db.session.rollback()
        flash(refused.message, "error")
        return _back()
    if revoked:
        flash(f"{user.email} is no longer an admin.", "success")
    else:
        flash(f"{user.email} was not an admin.", "info")
    db.session.commit()
    return _back()


@bp.route("/users/<int:user_id>/delete", methods=["GET", "POST"])
def delete_user(user_id: int) -> Response | tuple[str, int]:
    """Delete someone's account, after typing their handle (or email) and a recent sign-in."""
    user = _user(user_id)
    here = url_for("admin.delete_user", user_id=user.id)
    expected = confirmation_word(user)
    form = DeleteAccountForm()
    if form.is_submitted() and not recently_authenticated():
        return redirect(confirm_url(here))
    status = 200
    if form.validate_on_submit():
        if matches(form.confirm_text.data, expected):
            email = user.email
            try:
                people.delete_user(user, current_user, ip=client_ip())
            except DomainError as refused:
                db.session.rollback()
                flash(refused.message, "error")
                return _back()
            db.session.commit()
            flash(f"The account of {email} is deleted.", "success")
            return _back()
        form.confirm_text.errors.append(f"That is not “{expected}”. Type it exactly.")
    if form.errors:
        status = 422
    page = render_template(
        "admin/delete_user.html",
        user=user,
        form=form,
        expected=expected,
        confirmed=recently_authenticated(),
        confirm_link=confirm_url(here),
        own=user.id == current_user.id,
    )
    return page, status


@bp.get("/audit")
def audit() -> str:
    filters = audit_log.parse(request.args)
    return render_template(
        "admin/audit.html",
        filters=filters,
        page=audit_log.entries(filters),
        actions=audit_log.actions(),
    )
