"""Proving a pending link: the provider's verified email matched an existing account, which must
show it wants the link, with its password or through a single-use link mailed to it."""

from __future__ import annotations

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from app.blueprints.auth.limits import email_ip, sign_in_ip, wait_phrase
from app.blueprints.auth.session import start_session
from app.blueprints.oauth import bp
from app.blueprints.oauth.forms import LinkPasswordForm
from app.blueprints.oauth.providers import PROVIDERS
from app.blueprints.oauth.routes import PENDING
from app.blueprints.oauth.views import endpoint_url, oauth_error, settings_url
from app.extensions import db, limiter
from app.models import OAuthIdentity
from app.security import across_people
from app.services.accounts import audit, oauth_identities, users
from app.services.notifications.mail import queue_mail


def _pending_key() -> str:
    """Per pending request: failed password guesses for one account are throttled on their own."""
    held = session.get(PENDING) or {}
    return f"oauth-pending:{held.get('id', '')}"


pending_account = limiter.limit(
    lambda: current_app.config["SIGN_IN_ACCOUNT_RATE_LIMIT"],
    key_func=_pending_key,
    methods=["POST"],
    deduct_when=lambda response: response.status_code != 302,
    error_message=lambda: f"Too many failed attempts. Please try again {wait_phrase()}.",
)


def held_identity() -> OAuthIdentity | None:
    held = session.get(PENDING) or {}
    return oauth_identities.pending(held.get("id"), held.get("nonce"))


def expired() -> Response:
    session.pop(PENDING, None)
    return oauth_error(
        400,
        "This request has expired",
        "Sign in with the provider again to link it to your account.",
        retry=endpoint_url("auth.login"),
    )


def label(identity: OAuthIdentity) -> str:
    spec = PROVIDERS.get(identity.provider)
    return spec.label if spec else identity.provider.title()


def page(identity: OAuthIdentity, form: LinkPasswordForm, status: int = 200) -> Response:
    user = identity.user
    body = render_template(
        "oauth/pending.html",
        identity=identity,
        provider_label=label(identity),
        form=form,
        has_password=user.password_hash is not None,
        # An unconfirmed address proves nothing: anyone could have registered it. Only a
        # password (or a reset, which proves the inbox) can unlock such an account.
        can_email=user.email_verified_at is not None,
        forgot_url=endpoint_url("auth.forgot", fallback="main.index"),
    )
    return current_app.make_response((body, status))


@bp.get("/pending")
@across_people("oauth sign in")
def pending() -> Response:
    identity = held_identity()
    if identity is None:
        return expired()
    return page(identity, LinkPasswordForm())


@bp.post("/pending/password")
@sign_in_ip
@pending_account
@across_people("oauth sign in")
def pending_password() -> Response:
    identity = held_identity()
    if identity is None:
        return expired()
    form = LinkPasswordForm()
    if not form.validate_on_submit():
        return page(identity, form, 422)
    user = users.authenticate(  # audits a failure
        identity.user.email, form.password.data, ip=request.remote_addr
    )
    if user is None or user.id != identity.user_id:
        db.session.commit()  # keep the sign_in_failed audit row
        form.password.errors.append("That password is not right.")
        return page(identity, form, 422)
    oauth_identities.confirm(identity, via="password", ip=request.remote_addr)
    start_session(user, method=identity.provider)
    db.session.commit()
    flash(f"{label(identity)} is now linked to your account.", "success")
    return redirect(settings_url())


@bp.post("/pending/email")
@email_ip
@across_people("oauth sign in")
def pending_email() -> Response:
    identity = held_identity()
    if identity is None:
        return expired()
    user = identity.user
    if user.email_verified_at is None:
        return oauth_error(
            409,
            "We cannot email this account",
            "This account's email address was never confirmed, so an email "
            "cannot prove it is yours. Use its password instead.",
            retry=url_for("oauth.pending"),
        )
    queue_mail(
        "oauth_link",
        user,
        identity_id=identity.id,
        nonce=identity.link_nonce,
        provider_label=label(identity),
    )
    audit.record("oauth_link_requested", user, request.remote_addr, provider=identity.provider)
    db.session.commit()
    return current_app.make_response(
        render_template("oauth/check_email.html", email=user.email, provider_label=label(identity))
    )


@bp.get("/confirm/<token>")
@across_people("oauth sign in")
def confirm(token: str) -> Response:
    identity = oauth_identities.read_link_token(token)  # InvalidLinkConfirmation -> 400 page
    return current_app.make_response(
        render_template(
            "oauth/confirm.html", identity=identity, provider_label=label(identity), token=token
        )
    )


@bp.post("/confirm/<token>")
@across_people("oauth sign in")
def confirm_post(token: str) -> Response:
    identity = oauth_identities.read_link_token(token)  # CSRFProtect has checked the form
    user = oauth_identities.confirm(identity, via="email", ip=request.remote_addr)
    start_session(user, method=identity.provider)  # the link reached the account's own inbox
    db.session.commit()
    flash(f"{label(identity)} is now linked to your account.", "success")
    return redirect(settings_url())
