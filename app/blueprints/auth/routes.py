"""Signed-out flows: sign up, sign in/out, verify, forgot and reset password, confirm email."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.blueprints.auth import bp, limits
from app.blueprints.auth.forms import ForgotForm, LoginForm, RegisterForm, ResetForm
from app.blueprints.auth.session import client_ip, end_session, start_session
from app.extensions import db
from app.security import across_people, safe_next
from app.services.accounts import users
from app.services.accounts.passwords import WeakPassword
from app.services.accounts.tokens import ExpiredLink, InvalidLink
from app.services.accounts.users import InvalidEmail
from app.services.exceptions import Conflict

# After signing in, people land on the first area that exists (features land one by one).
HOME_ENDPOINTS = ("images.index", "connections.index", "auth.settings")


def home_url() -> str:
    for endpoint in HOME_ENDPOINTS:
        if endpoint in current_app.view_functions:
            return url_for(endpoint)
    return url_for("main.index")


def link_problem(exc: InvalidLink, *, retry_endpoint: str, retry_label: str) -> tuple[str, int]:
    """A readable page for a used, expired or mangled email link, with the way forward."""
    page = render_template(
        "auth/link_problem.html",
        message=exc.message,
        expired=isinstance(exc, ExpiredLink),
        retry_url=url_for(retry_endpoint),
        retry_label=retry_label,
    )
    return page, 400


@bp.route("/sign-up", methods=["GET", "POST"])
@limits.sign_up
@across_people("sign up")
def register() -> Response | str | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(home_url())
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = users.create_user(
                form.email.data, form.password.data, name=form.name.data, ip=client_ip()
            )
        except WeakPassword as exc:
            form.password.errors.append(exc.message)
        except (InvalidEmail, Conflict) as exc:
            form.email.errors.append(exc.message)
        else:
            users.send_verification(user)
            start_session(user, method="sign_up")
            db.session.commit()  # the verification mail is queued on this commit
            flash(
                f"Welcome, {user.name}! Please confirm your email address: "
                f"we sent a link to {user.email}.",
                "verify",  # said by the verify banner, not as a second alert
            )
            return redirect(home_url())
    status = 422 if form.errors else 200
    return render_template("auth/register.html", form=form), status


@bp.route("/sign-in", methods=["GET", "POST"])
@limits.sign_in_ip
@limits.sign_in_account
@across_people("sign in")
def login() -> Response | tuple[str, int]:
    target = safe_next(request.values.get("next"), home_url())
    if current_user.is_authenticated:
        return redirect(target)
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        user = users.authenticate(form.email.data, form.password.data, ip=client_ip())
        if user is not None:
            start_session(user, remember=form.remember.data)
            db.session.commit()
            return redirect(target)
        db.session.commit()  # keep the failed attempt in the audit log
        form.password.errors.append("That email and password do not match an account.")
    status = 422 if form.errors else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/sign-out")
def logout() -> Response:
    end_session(current_user if current_user.is_authenticated else None)
    db.session.commit()
    flash("You are signed out. See you soon!", "info")
    return redirect(url_for("main.index"))


@bp.route("/verify/<token>", methods=["GET", "POST"])
@across_people("email link")
def verify(token: str) -> Response | tuple[str, int]:
    """In the browser signed in to the account, opening the link confirms it. Anywhere else it
    asks first (a POST), because confirming from elsewhere takes the account back from whoever
    set it up, and mail scanners that open links must not do that."""
    signed_in_as = current_user.id if current_user.is_authenticated else None
    try:
        owner = users.user_for_verification(token)
        if request.method == "GET" and owner.id != signed_in_as:
            return render_template("auth/verify_confirm.html", email=owner.email, token=token), 200
        secured = users.verify_email(token, signed_in_as=signed_in_as, ip=client_ip())
    except InvalidLink as exc:
        endpoint = "auth.settings" if current_user.is_authenticated else "auth.login"
        return link_problem(
            exc, retry_endpoint=endpoint, retry_label="Send a new link from Settings"
        )
    db.session.commit()
    if secured is not None:
        # Whoever set the account up may not own the inbox: every session, token and identity
        # linked meanwhile is gone; the inbox's owner takes over with a new password.
        flash(
            "Your email address is confirmed. Everything set up on this account before was "
            "signed out. If you did not create this account, choose a new password now.",
            "warning",
        )
        return redirect(url_for("auth.forgot"))
    flash("Thanks! Your email address is confirmed.", "success")
    return redirect(home_url() if current_user.is_authenticated else url_for("auth.login"))


@bp.route("/forgot-password", methods=["GET", "POST"])
@limits.email_ip
@limits.email_account
@across_people("password reset")
def forgot() -> str | tuple[str, int]:
    form = ForgotForm()
    if form.validate_on_submit():
        users.request_password_reset(form.email.data, ip=client_ip())
        db.session.commit()
        # The same page whether or not the account exists: this form must not reveal accounts.
        return render_template("auth/forgot_sent.html", email=form.email.data)
    status = 422 if form.errors else 200
    return render_template("auth/forgot.html", form=form), status


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
@across_people("password reset")
def reset(token: str) -> Response | str | tuple[str, int]:
    form = ResetForm()
    try:
        if form.validate_on_submit():
            user = users.reset_password(token, form.password.data, ip=client_ip())
            start_session(user, method="password_reset")
            db.session.commit()
            flash(
                "Your password is changed. Every other session and every API token of this "
                "account has been signed out.",
                "success",
            )
            return redirect(home_url())
        users.user_for_reset(token)  # show the form only for a link that still works
    except InvalidLink as exc:
        db.session.rollback()
        return link_problem(exc, retry_endpoint="auth.forgot", retry_label="Ask for a new link")
    except WeakPassword as exc:
        db.session.rollback()
        form.password.errors.append(exc.message)
    status = 422 if form.errors else 200
    return render_template("auth/reset.html", form=form, token=token), status


@bp.get("/confirm-email/<token>")
@across_people("email link")
def confirm_email(token: str) -> Response | tuple[str, int]:
    signed_in_as = current_user.id if current_user.is_authenticated else None
    try:
        user = users.confirm_email_change(token, ip=client_ip())
    except InvalidLink as exc:
        return link_problem(exc, retry_endpoint="auth.settings", retry_label="Go to Settings")
    except Conflict as exc:
        return link_problem(
            InvalidLink(exc.message), retry_endpoint="auth.settings", retry_label="Go to Settings"
        )
    # Every session ended with the change; the browser that asked for it continues afresh.
    stays = signed_in_as == user.id
    if stays:
        start_session(user, method="email_change")
    db.session.commit()
    flash(
        f"Your email address is now {user.email}. Your other sessions and API tokens were "
        "signed out.",
        "success",
    )
    return redirect(url_for("auth.settings") if stays else url_for("auth.login"))
