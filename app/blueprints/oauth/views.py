"""What the OAuth templates need: errors, the settings list of sign-in methods, where to go next."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, current_app, make_response, render_template, url_for

from app.blueprints.oauth import bp
from app.blueprints.oauth.providers import PROVIDERS, enabled_providers
from app.models import OAuthIdentity, User
from app.services.accounts import oauth_identities


@dataclass(frozen=True)
class MethodRow:
    name: str
    label: str
    identity: OAuthIdentity | None
    can_link: bool  # the provider is configured, and nothing of it is linked yet
    can_unlink: bool


@dataclass(frozen=True)
class SignInMethods:
    has_password: bool
    rows: list[MethodRow]
    message: str | None = None


def sign_in_methods(user: User, message: str | None = None) -> SignInMethods:
    linked = {identity.provider: identity for identity in oauth_identities.sign_in_methods(user)}
    removable = oauth_identities.can_unlink(user, list(linked.values()))
    enabled = {p.name for p in enabled_providers()}
    rows = [
        MethodRow(
            p.name,
            p.label,
            linked.get(p.name),
            p.name in enabled and p.name not in linked,
            p.name in linked and removable,
        )
        for p in PROVIDERS.values()
        if p.name in enabled or p.name in linked  # a provider switched off stays unlinkable
    ]
    return SignInMethods(user.password_hash is not None, rows, message)


@bp.app_context_processor
def oauth_template_helpers() -> dict:
    return {"oauth_providers": enabled_providers, "oauth_sign_in_methods": sign_in_methods}


def endpoint_url(endpoint: str, fallback: str = "main.index") -> str:
    """url_for an endpoint another blueprint owns, if it is registered yet."""
    return url_for(endpoint if endpoint in current_app.view_functions else fallback)


def settings_url() -> str:
    return endpoint_url("auth.settings")


def after_sign_in_url() -> str:
    from app.blueprints.auth.routes import home_url  # the same landing page as a password sign-in

    return home_url()


def oauth_error(status: int, title: str, message: str, *, retry: str | None = None) -> Response:
    """A readable page for a sign-in that did not complete (never a 500)."""
    body = render_template(
        "oauth/error.html",
        title=title,
        message=message,
        status=status,
        retry_url=retry,
        login_url=endpoint_url("auth.login"),
    )
    return make_response(body, status)
