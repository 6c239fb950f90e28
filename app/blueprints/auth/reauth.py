"""Confirm it is you: sensitive changes (API tokens, linking a provider, changing the email or
setting a password without one) need an authentication from the last REAUTH_MINUTES.

People with a password type it again here; accounts without one go through their provider
(oauth.reauth), which sends them back with the same mark.
"""

from __future__ import annotations

import time

from flask import current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app.blueprints.auth import bp, limits
from app.blueprints.auth.forms import ReauthForm
from app.blueprints.auth.session import AUTH_AT, client_ip, mark_authenticated
from app.extensions import db
from app.security import safe_next
from app.services.accounts import audit, passwords

CONFIRM_FIRST = "For your safety, confirm it is you first: it takes a few seconds."


def recently_authenticated() -> bool:
    """True when this session authenticated (sign-in or confirmation) within REAUTH_MINUTES."""
    at = session.get(AUTH_AT)
    if not isinstance(at, int):
        return False
    return 0 <= time.time() - at <= current_app.config["REAUTH_MINUTES"] * 60


def confirm_url(next_url: str) -> str:
    return url_for("auth.confirm_identity", next=next_url)


@bp.route("/confirm-identity", methods=["GET", "POST"])
@login_required
@limits.reauth_user
def confirm_identity() -> Response | tuple[str, int]:
    target = safe_next(request.values.get("next"), url_for("auth.settings"))
    form = ReauthForm()
    if request.method == "GET":
        form.next.data = target
    has_password = current_user.password_hash is not None
    if has_password and form.validate_on_submit():
        if passwords.verify_password(current_user.password_hash, form.password.data):
            mark_authenticated()
            audit.record("reauthenticated", current_user, client_ip(), method="password")
            db.session.commit()
            return redirect(target)
        audit.record("sign_in_failed", current_user, client_ip(), reason="reauth_bad_password")
        db.session.commit()
        form.password.errors.append("That is not your password.")
    status = 422 if form.errors else 200
    page = render_template(
        "auth/confirm_identity.html", form=form, has_password=has_password, next_url=target
    )
    return page, status
