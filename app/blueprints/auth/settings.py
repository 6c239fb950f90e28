"""Account settings: profile, password, email, sign-in methods, sessions, API tokens.

Each section is a fragment (auth/partials/settings_<section>.html) that htmx posts and swaps in
place; without htmx the same routes answer the whole settings page.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from app.blueprints.auth import bp, limits
from app.blueprints.auth.forms import EmailForm, PasswordForm, ProfileForm, TokenForm
from app.blueprints.auth.reauth import CONFIRM_FIRST, confirm_url, recently_authenticated
from app.blueprints.auth.session import client_ip, current_record, refresh_session
from app.extensions import db
from app.htmx import is_htmx, render
from app.models import ApiToken, UserSession
from app.security import VERIFY_FIRST, owned_or_404, safe_next
from app.services.accounts import api_tokens, sessions, users
from app.services.accounts.passwords import WeakPassword
from app.services.accounts.users import InvalidEmail, ReauthRequired, WrongPassword
from app.services.exceptions import Conflict, DomainError

SECTIONS = ("profile", "email", "password", "sessions", "tokens")


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
    idle_limit = current_app.config["REMEMBER_COOKIE_DURATION"]
    forms.setdefault("sessions", sessions.live_sessions(current_user, idle_limit=idle_limit))
    forms.setdefault("this_session", current_record())
    forms.setdefault("notices", {})
    forms.setdefault("reauth", {})
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
                current_user,
                form.current_password.data or "",
                form.new_password.data,
                reauthenticated=recently_authenticated(),
                ip=client_ip(),
            )
        except ReauthRequired as exc:
            return settings_page(
                "password", 403, password_form=form, reauth={"password": _reauth(exc.message)}
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
                current_user,
                form.new_email.data,
                form.password.data or "",
                reauthenticated=recently_authenticated(),
                ip=client_ip(),
            )
        except ReauthRequired as exc:
            return settings_page(
                "email", 403, email_form=form, reauth={"email": _reauth(exc.message)}
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
    if not current_user.is_verified:
        return settings_page("tokens", 403, token_form=form, notices={"tokens": VERIFY_FIRST})
    if not recently_authenticated():
        return settings_page(
            "tokens", 403, token_form=form, reauth={"tokens": _reauth(CONFIRM_FIRST)}
        )
    try:
        # A post without the scope boxes (a script that knows only the name) gets every scope,
        # as tokens had before there were scopes.
        if "token-scopes" in request.form:
            scopes = [scope for scope in api_tokens.SCOPES if getattr(form, scope).data]
        else:
            scopes = list(api_tokens.SCOPES)
        token, raw = api_tokens.create_token(
            current_user, form.name.data, scopes=scopes, ip=client_ip()
        )
    except DomainError as exc:
        form.name.errors.append(exc.message)
        return settings_page("tokens", 422, token_form=form)
    db.session.commit()
    return settings_page("tokens", 201, new_token=raw, new_token_id=token.id)


@bp.post("/settings/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Response:
    token = owned_or_404(ApiToken, token_id)
    api_tokens.revoke_token(token, ip=client_ip())
    db.session.commit()
    return settings_page("tokens", notices={"tokens": f"Token “{token.name}” revoked."})


@bp.post("/settings/sessions/others/end")
@login_required
def end_other_sessions() -> Response:
    """Sign out everywhere else: every other session row ends, so their cookies stop working."""
    ended = sessions.end_all(current_user, keep=current_record())
    db.session.commit()
    message = f"Signed out of {ended} other session{'s' if ended != 1 else ''}."
    return settings_page("sessions", notices={"sessions": message})


@bp.post("/settings/sessions/<int:session_id>/end")
@login_required
def end_one_session(session_id: int) -> Response:
    record = owned_or_404(UserSession, session_id)
    if record is current_record():
        return settings_page(
            "sessions", 409, notices={"sessions": "Use Sign out to end this session."}
        )
    sessions.end(record)
    db.session.commit()
    return settings_page("sessions", notices={"sessions": "That session is signed out."})


def _reauth(message: str) -> dict[str, str]:
    """What a section shows when a change needs a sign-in from just now."""
    return {"message": message, "url": confirm_url(url_for("auth.settings"))}


def _back_to_referring_page() -> str:
    """The banner's resend button works on every page: go back there if it is one of ours."""
    root, referrer = request.host_url.rstrip("/"), request.referrer or ""
    path = referrer[len(root) :] if referrer.startswith(root + "/") else ""
    return safe_next(path, url_for("auth.settings"))


_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


@bp.app_template_filter("device_label")
def device_label(user_agent: str) -> str:
    """ "Firefox on Linux" from a User-Agent header; enough to tell one's devices apart."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), None)
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or (user_agent[:60] if user_agent else "Unknown device")
