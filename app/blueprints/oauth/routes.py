"""The OAuth round trip: start (sign in), link or reauth (signed in) -> provider -> callback;
unlink. Linking needs a confirmed address and a sign-in from just now (auth/reauth.py); reauth
is how an account without a password confirms it is the person behind it."""

from __future__ import annotations

import logging

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import MismatchingStateError
from authlib.integrations.flask_client import FlaskOAuth2App
from flask import Response, abort, flash, redirect, request, session, url_for
from flask_login import current_user, login_required
from joserfc.errors import JoseError

from app.blueprints.oauth import bp
from app.blueprints.oauth.providers import PROVIDERS, Provider, get_provider
from app.blueprints.oauth.views import (
    after_sign_in_url,
    oauth_error,
    settings_url,
    sign_in_methods,
)
from app.extensions import db
from app.htmx import is_htmx, render
from app.security import across_people, safe_next
from app.services.accounts import oauth_identities
from app.services.accounts.oauth_identities import Outcome
from app.services.exceptions import DomainError
from app.services.notifications.mail import external_url

log = logging.getLogger(__name__)

INTENT = "oauth_intent"  # what the round trip in flight is for: sign in, link, or reauth
PENDING = "oauth_pending"  # the pending link waiting for this browser's proof


def provider_or_404(name: str) -> tuple[Provider, FlaskOAuth2App]:
    found = get_provider(name)
    if found is None:
        abort(404)
    return found


def authorize(provider: Provider, client: FlaskOAuth2App) -> Response:
    redirect_uri = external_url("oauth.callback", provider=provider.name)
    try:
        return client.authorize_redirect(redirect_uri)  # state, PKCE verifier, nonce -> session
    except (requests.RequestException, ValueError) as exc:  # discovery document unreachable/bad
        log.warning("oauth %s authorize failed: %s", provider.name, exc)
        return oauth_error(
            503,
            f"{provider.label} sign-in is unavailable",
            f"We could not reach {provider.label}. Please try again in a moment.",
        )


@bp.get("/<provider>/start")
def start(provider: str) -> Response:
    spec, client = provider_or_404(provider)
    if current_user.is_authenticated:
        return redirect(settings_url())
    session[INTENT] = {
        "provider": provider,
        "action": "sign_in",
        "next": safe_next(request.args.get("next"), ""),
    }
    return authorize(spec, client)


@bp.post("/<provider>/link")
@login_required
def link(provider: str) -> Response:
    from app.blueprints.auth.reauth import CONFIRM_FIRST, confirm_url, recently_authenticated
    from app.security import VERIFY_FIRST

    spec, client = provider_or_404(provider)
    if not current_user.is_verified:
        return oauth_error(403, f"{spec.label} was not linked", VERIFY_FIRST, retry=settings_url())
    if not recently_authenticated():
        flash(CONFIRM_FIRST, "info")
        return redirect(confirm_url(settings_url()))
    session[INTENT] = {"provider": provider, "action": "link", "user_id": current_user.id}
    return authorize(spec, client)


@bp.post("/<provider>/reauth")
@login_required
def reauth(provider: str) -> Response:
    """Confirm it is you by signing in again at a provider already linked to this account."""
    spec, client = provider_or_404(provider)
    session[INTENT] = {
        "provider": provider,
        "action": "reauth",
        "user_id": current_user.id,
        "next": safe_next(request.form.get("next"), settings_url()),
    }
    return authorize(spec, client)


@bp.get("/<provider>/callback")
@across_people("oauth sign in")
def callback(provider: str) -> Response:
    spec, client = provider_or_404(provider)
    intent = session.pop(INTENT, None) or {}
    retry = settings_url() if intent.get("action") in ("link", "reauth") else None
    if error := request.args.get("error"):
        session.pop(f"_state_{provider}_{request.args.get('state')}", None)
        return provider_refused(spec, error, request.args.get("error_description"), retry)
    if intent.get("provider") != provider:
        return stale_flow(spec, retry)
    try:
        token = client.authorize_access_token(**spec.token_params())
        profile = spec.profile(client, token)
    except MismatchingStateError:
        return stale_flow(spec, retry)
    except (AuthlibBaseError, JoseError) as exc:  # token endpoint said no; id_token did not verify
        log.warning("oauth %s token exchange refused: %s", provider, exc)
        return oauth_error(
            400,
            f"{spec.label} sign-in failed",
            f"{spec.label} did not confirm this sign-in. Please start again.",
            retry=retry,
        )
    except (requests.RequestException, KeyError, TypeError, ValueError) as exc:
        log.warning("oauth %s unreachable or odd answer: %r", provider, exc)
        return oauth_error(
            502,
            f"{spec.label} did not answer",
            f"We could not complete the sign-in with {spec.label}. Please try again.",
            retry=retry,
        )
    if intent.get("action") == "link":
        return finish_link(spec, profile, intent)
    if intent.get("action") == "reauth":
        return finish_reauth(spec, profile, intent)
    return finish_sign_in(spec, profile, intent)


def provider_refused(
    spec: Provider, error: str, description: str | None, retry: str | None
) -> Response:
    if error == "access_denied":
        return oauth_error(
            403,
            f"{spec.label} sign-in cancelled",
            f"You did not allow Linkarooie to use your {spec.label} account, so nothing changed.",
            retry=retry,
        )
    log.info("oauth %s returned error %s: %s", spec.name, error, description)
    return oauth_error(
        400,
        f"{spec.label} sign-in failed",
        f"{spec.label} reported a problem ({error[:60]}). Please start again.",
        retry=retry,
    )


def stale_flow(spec: Provider, retry: str | None) -> Response:
    return oauth_error(
        400,
        "This sign-in has expired",
        f"We could not match this answer from {spec.label} to a sign-in started in "
        "this browser (it may be old, used already, or altered). Please start "
        "again.",
        retry=retry,
    )


def finish_link(spec: Provider, profile: oauth_identities.Profile, intent: dict) -> Response:
    if not current_user.is_authenticated or current_user.id != intent.get("user_id"):
        return stale_flow(spec, settings_url())
    try:
        oauth_identities.link(current_user, spec.name, spec.label, profile, ip=request.remote_addr)
    except DomainError as exc:
        db.session.rollback()
        return oauth_error(
            exc.status, f"{spec.label} was not linked", exc.message, retry=settings_url()
        )
    db.session.commit()
    flash(f"{spec.label} is linked: you can now sign in with it.", "success")
    return redirect(settings_url())


def finish_reauth(spec: Provider, profile: oauth_identities.Profile, intent: dict) -> Response:
    from app.blueprints.auth.session import mark_authenticated
    from app.services.accounts import audit

    if not current_user.is_authenticated or current_user.id != intent.get("user_id"):
        return stale_flow(spec, settings_url())
    identity = oauth_identities.find(spec.name, profile.subject)
    if identity is None or not identity.is_linked or identity.user_id != current_user.id:
        return oauth_error(
            403,
            "That is a different account",
            f"The {spec.label} account you signed in with is not the one linked to yours, so "
            "nothing changed.",
            retry=settings_url(),
        )
    mark_authenticated()
    audit.record("reauthenticated", current_user, request.remote_addr, method=spec.name)
    db.session.commit()
    return redirect(intent.get("next") or settings_url())


def finish_sign_in(spec: Provider, profile: oauth_identities.Profile, intent: dict) -> Response:
    from app.blueprints.auth.session import start_session

    try:
        resolution = oauth_identities.sign_in(
            spec.name, spec.label, profile, ip=request.remote_addr
        )
    except DomainError as exc:
        db.session.rollback()
        return oauth_error(exc.status, f"{spec.label} sign-in did not complete", exc.message)
    if resolution.outcome is Outcome.PENDING:
        db.session.commit()
        identity = resolution.identity
        session[PENDING] = {"id": identity.id, "nonce": identity.link_nonce}
        return redirect(url_for("oauth.pending"))
    start_session(resolution.user, method=spec.name)
    db.session.commit()
    if resolution.outcome is Outcome.CREATED:
        flash(f"Welcome to Linkarooie! Your account uses {spec.label} to sign in.", "success")
    return redirect(intent.get("next") or after_sign_in_url())


@bp.post("/<provider>/unlink")
@login_required
def unlink(provider: str) -> Response:
    spec = PROVIDERS.get(provider)
    if spec is None:
        abort(404)
    oauth_identities.unlink(current_user, provider, spec.label, ip=request.remote_addr)
    db.session.commit()
    message = f"{spec.label} is no longer linked to your account."
    if is_htmx():
        methods = sign_in_methods(current_user, message)
        return render(
            "oauth/partials/sign_in_methods.html",
            "oauth/partials/sign_in_methods.html",
            oauth_methods=methods,
        )
    flash(message, "success")
    return redirect(settings_url())
