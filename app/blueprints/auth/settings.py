"""Account settings: profile, password, email, sign-in methods, API tokens.

Each section is a fragment (auth/partials/settings_<section>.html) that htmx posts and swaps in
place; without htmx the same routes answer the whole settings page.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app.blueprints.auth import bp, limits
from app.blueprints.auth.forms import EmailForm, PasswordForm, ProfileForm, TokenForm
from app.blueprints.auth.session import refresh_session
from app.extensions import db
from app.htmx import is_htmx, render
from app.models import ApiToken
from app.security import owned_or_404, safe_next
from app.services.accounts import api_tokens, users
from app.services.accounts.passwords import WeakPassword
from app.services.accounts.users import InvalidEmail, WrongPassword
from app.services.exceptions import Conflict, DomainError

SECTIONS = ("profile", "email", "password", "tokens")


def settings_page(section: str = "profile", status: int = 200, **context: Any) -> Response:
    """The settings page (or one section for htmx); forms not being submitted start clean."""
    forms: dict[str, Any] = {
        "profile_form": ProfileForm(formdata=None, prefix="profile", name=current_user.name),
        "email_form": EmailForm(formdata=None, prefix="email"),
        "password_form": PasswordForm(formdata=None, prefix="password"),
        "token_form": TokenForm(formdata=None, prefix="token"),
    }
    forms.update(context)
    forms.setdefault("tokens", api_tokens.tokens_of(current_user))
    forms.setdefault("notices", {})
    return render(
        "auth/settings.html",
        f"auth/partials/settings_{section}.html",
        status,
        user=current_user,
        **forms,
    )


@bp.get("/settings")
@login_required
def settings() -> Response:
    return settings_page()


@bp.post("/settings/profile")
@login_required
def update_profile() -> Response:
    form = ProfileForm(prefix="profile")
    if not form.validate_on_submit():
        return settings_page("profile", 422, profile_form=form)
    users.update_profile(current_user, name=form.name.data)
    db.session.commit()
    return settings_page("profile", notices={"profile": "Saved."}, profile_form=form)


@bp.post("/settings/password")
@login_required
def change_password() -> Response:
    form = PasswordForm(prefix="password")
    if form.validate_on_submit():
        try:
            users.change_password(
                current_user, form.current_password.data or "", form.new_password.data
            )
        except WrongPassword as exc:
            form.current_password.errors.append(exc.message)
        except WeakPassword as exc:
            form.new_password.errors.append(exc.message)
        else:
            refresh_session(current_user)  # this browser stays signed in; the others do not
            db.session.commit()
            return settings_page(
                "password",
                notices={"password": "Password changed. Your other devices have been signed out."},
            )
    return settings_page("password", 422, password_form=form)


@bp.post("/settings/email")
@login_required
@limits.email_user
def change_email() -> Response:
    form = EmailForm(prefix="email")
    if form.validate_on_submit():
        try:
            new_email = users.request_email_change(
                current_user, form.new_email.data, form.password.data or ""
            )
        except WrongPassword as exc:
            form.password.errors.append(exc.message)
        except (InvalidEmail, Conflict) as exc:
            form.new_email.errors.append(exc.message)
        else:
            db.session.commit()
            return settings_page(
                "email",
                notices={
                    "email": (
                        f"We sent a link to {new_email}. Your address changes once you open it."
                    )
                },
            )
    return settings_page("email", 422, email_form=form)


@bp.post("/settings/verification")
@login_required
@limits.email_user
def resend_verification() -> Response:
    if current_user.is_verified:
        message = "Your email address is already confirmed."
    else:
        users.send_verification(current_user)
        db.session.commit()
        message = f"We sent a new confirmation link to {current_user.email}."
    if is_htmx():
        return settings_page("email", notices={"email": message})
    flash(message, "success" if current_user.is_verified else "verify")
    return redirect(_back_to_referring_page())


@bp.post("/settings/tokens")
@login_required
def create_token() -> Response:
    form = TokenForm(prefix="token")
    if not form.validate_on_submit():
        return settings_page("tokens", 422, token_form=form)
    try:
        token, raw = api_tokens.create_token(current_user, form.name.data)
    except DomainError as exc:
        form.name.errors.append(exc.message)
        return settings_page("tokens", 422, token_form=form)
    db.session.commit()
    return settings_page("tokens", 201, new_token=raw, new_token_id=token.id)


@bp.post("/settings/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Response:
    token = owned_or_404(ApiToken, token_id)
    api_tokens.revoke_token(token)
    db.session.commit()
    return settings_page("tokens", notices={"tokens": f"Token “{token.name}” revoked."})


def _back_to_referring_page() -> str:
    """The banner's resend button works on every page: go back there if it is one of ours."""
    root, referrer = request.host_url.rstrip("/"), request.referrer or ""
    path = referrer[len(root) :] if referrer.startswith(root + "/") else ""
    return safe_next(path, url_for("auth.settings"))
