"""Delete my account: explained first, then confirmed twice (a recent sign-in and typing the
handle); the work is app/services/accounts/deletion.py."""

from __future__ import annotations

from flask import redirect, render_template, session, url_for
from flask_login import current_user, login_required, logout_user
from werkzeug.wrappers import Response

from app.blueprints.auth import bp
from app.blueprints.auth.forms import DeleteAccountForm
from app.blueprints.auth.reauth import confirm_url, recently_authenticated
from app.blueprints.auth.session import client_ip
from app.extensions import db
from app.models import Profile, User
from app.services.accounts import deletion
from app.services.exceptions import DomainError


def confirmation_word(user: User) -> str:
    """What must be typed: the public handle, or the email address for someone without one."""
    profile = db.session.get(Profile, user.id)
    return profile.handle if profile is not None and profile.handle else user.email


def matches(typed: str | None, expected: str) -> bool:
    def clean(value: str) -> str:
        return value.strip().removeprefix("@").casefold()

    return bool(typed) and clean(typed) == clean(expected)


@bp.route("/settings/delete-account", methods=["GET", "POST"])
@login_required
def delete_account() -> Response | tuple[str, int]:
    here = url_for("auth.delete_account")
    expected = confirmation_word(current_user)
    form = DeleteAccountForm()
    if form.is_submitted() and not recently_authenticated():
        return redirect(confirm_url(here))
    if form.validate_on_submit():
        if matches(form.confirm_text.data, expected):
            user = current_user._get_current_object()
            try:
                deletion.delete_account(user, user, ip=client_ip())
            except DomainError as refused:
                db.session.rollback()
                form.confirm_text.errors.append(refused.message)
                return _page(form, expected), refused.status
            logout_user()
            session.clear()
            session["_remember"] = "clear"  # the remember cookie goes too (see end_session)
            db.session.commit()
            return render_template("auth/goodbye.html")
        form.confirm_text.errors.append(
            f"That is not “{expected}”. Type it exactly to delete your account."
        )
    return _page(form, expected), 422 if form.errors else 200


def _page(form: DeleteAccountForm, expected: str) -> str:
    return render_template(
        "auth/delete_account.html",
        form=form,
        expected=expected,
        confirmed=recently_authenticated(),
        confirm_link=confirm_url(url_for("auth.delete_account")),
        export_url=url_for("account_data.index"),
    )
