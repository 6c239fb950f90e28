"""The sign-in providers: how each is registered with Authlib, and how each says who the person is.

Endpoints come from config (app/config.py) so tests and staging can point them at other servers.
A provider is enabled only when its client id is configured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.integrations.flask_client import FlaskOAuth2App
from flask import Flask, current_app

from app.extensions import oauth
from app.services.accounts.oauth_identities import Profile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Provider:
    name: str
    label: str
    settings: Callable[[dict[str, Any]], dict[str, Any]]  # config -> Authlib register() kwargs
    profile: Callable[[FlaskOAuth2App, dict[str, Any]], Profile]  # (client, token) -> Profile
    token_params: Callable[[], dict[str, Any]] = dict  # extra kwargs for authorize_access_token


def _google_settings(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "server_metadata_url": config["GOOGLE_DISCOVERY_URL"],
        "client_kwargs": {"scope": "openid email profile", "code_challenge_method": "S256"},
    }


def _google_profile(client: FlaskOAuth2App, token: dict[str, Any]) -> Profile:
    # Authlib has validated the id_token (signature, iss, aud, exp, nonce, at_hash).
    claims = dict(token.get("userinfo") or {})
    if "email" not in claims:
        claims.update(client.userinfo(token=token))
    verified = claims.get("email_verified") in (True, "true")
    return Profile(
        str(claims["sub"]), claims.get("email") if verified else None, claims.get("name") or ""
    )


def _github_settings(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "authorize_url": config["GITHUB_AUTHORIZE_URL"],
        "access_token_url": config["GITHUB_TOKEN_URL"],
        "api_base_url": config["GITHUB_API_BASE_URL"],
        "client_kwargs": {
            "scope": "read:user user:email",
            "code_challenge_method": "S256",  # GitHub supports PKCE for OAuth apps
            "token_endpoint_auth_method": "client_secret_post",  # as GitHub documents
        },
    }


def _github_profile(client: FlaskOAuth2App, token: dict[str, Any]) -> Profile:
    user = _json(client.get("user", token=token))
    emails = _json(client.get("user/emails", token=token))
    # The public profile email is unverified; only a verified primary address counts.
    email = next(
        (e["email"] for e in emails if e.get("primary") and e.get("verified") and e.get("email")),
        None,
    )
    return Profile(str(user["id"]), email, user.get("name") or user.get("login") or "")


def _client_secret_in_query(auth, method: str, uri: str, headers, body):
    """Facebook's code exchange: a GET as a GET with client_id and client_secret in the query."""
    uri = add_params_to_uri(
        uri, [("client_id", auth.client_id), ("client_secret", auth.client_secret or "")]
    )
    return uri, headers, body


def _facebook_settings(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "authorize_url": config["FACEBOOK_AUTHORIZE_URL"],
        "access_token_url": config["FACEBOOK_TOKEN_URL"],
        "api_base_url": config["FACEBOOK_API_BASE_URL"],
        "client_auth_methods": [("client_secret_query", _client_secret_in_query)],
        "client_kwargs": {
            "scope": "email public_profile",
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_query",
        },
    }


def _facebook_profile(client: FlaskOAuth2App, token: dict[str, Any]) -> Profile:
    me = _json(client.get("me", params={"fields": "id,name,email"}, token=token))
    # Graph returns `email` only for a confirmed address (it is absent otherwise).
    return Profile(str(me["id"]), me.get("email") or None, me.get("name") or "")


def _json(response) -> Any:
    response.raise_for_status()
    return response.json()


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider("google", "Google", _google_settings, _google_profile),
        Provider("github", "GitHub", _github_settings, _github_profile),
        # Facebook's code exchange is a GET (Graph API "Manually Build a Login Flow").
        Provider(
            "facebook", "Facebook", _facebook_settings, _facebook_profile, lambda: {"method": "GET"}
        ),
    )
}


def register_providers(app: Flask) -> None:
    """(Re-)register every configured provider with the Authlib registry, from `app.config`."""
    clients: dict[str, FlaskOAuth2App] = {}
    for provider in PROVIDERS.values():
        prefix = provider.name.upper()
        client_id = app.config.get(f"{prefix}_CLIENT_ID")
        if not client_id:
            continue
        if not app.config.get(f"{prefix}_CLIENT_SECRET"):  # every exchange would fail: no button
            log.warning(
                "%s_CLIENT_ID is set but %s_CLIENT_SECRET is not: %s sign-in is off",
                prefix,
                prefix,
                provider.label,
            )
            continue
        kwargs = provider.settings(app.config)
        kwargs["client_kwargs"]["default_timeout"] = app.config.get("OAUTH_HTTP_TIMEOUT", 10)
        oauth._clients.pop(provider.name, None)  # Authlib caches clients; settings may have changed
        clients[provider.name] = oauth.register(
            provider.name,
            client_id=client_id,
            client_secret=app.config.get(f"{prefix}_CLIENT_SECRET"),
            **kwargs,
        )
    app.extensions["oauth_providers"] = clients
    log.debug("oauth providers enabled: %s", ", ".join(clients) or "none")


def enabled_providers() -> list[Provider]:
    """The providers this app has credentials for, in display order."""
    clients = current_app.extensions.get("oauth_providers", {})
    return [p for name, p in PROVIDERS.items() if name in clients]


def get_provider(name: str) -> tuple[Provider, FlaskOAuth2App] | None:
    client = current_app.extensions.get("oauth_providers", {}).get(name)
    return (PROVIDERS[name], client) if client is not None else None
