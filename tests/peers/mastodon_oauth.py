"""FakeMastodon's app registration and OAuth 2 routes, following docs.joinmastodon.org
methods/apps.md and methods/oauth.md, with the errors Doorkeeper (Mastodon's OAuth server)
gives: an HTML page for an unknown client or redirect URI, a redirect with `error=` for
everything the client can be told about, and JSON from the token endpoint (400, 401 for a
bad client). Codes are single use and bound to client, redirect URI and PKCE challenge.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from html import escape
from typing import Any

from flask import Response, jsonify, redirect, request

from tests.peers.loopback_oauth import with_query

CODE_TTL = 600  # Doorkeeper's default authorization code lifetime
OOB = "urn:ietf:wg:oauth:2.0:oob"
SCOPE_FAMILIES = {"read", "write", "follow", "push", "profile", "admin:read", "admin:write"}
INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the "
    "redirection URI used in the authorization request, or was issued to another client."
)
INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, "
    "or unsupported authentication method."
)
BAD_REDIRECT = "The requested redirect uri is malformed or doesn't match client redirect URI."
BAD_RESPONSE_TYPE = "The authorization server does not support this response type."
BAD_SCOPE = "The requested scope is invalid, unknown, or malformed."
BAD_GRANT_TYPE = "The authorization grant type is not supported by the authorization server."
DENIED = "The resource owner or authorization server denied the request."


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def allowed(granted: list[str], needed: str) -> bool:
    """`write` covers `write:accounts`; a token needs the scope or its family."""
    return needed in granted or needed.split(":")[0] in granted


def known_scope(scope: str) -> bool:
    return scope in SCOPE_FAMILIES or scope.rsplit(":", 1)[0] in SCOPE_FAMILIES


@dataclass
class App:
    id: str
    name: str
    website: str | None
    redirect_uris: list[str]
    scopes: list[str]
    client_id: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))


@dataclass
class Grant:
    user: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    challenge: str | None
    issued: float = field(default_factory=time.time)


@dataclass
class Token:
    user: str | None  # None: an app-only token (client_credentials)
    client_id: str | None  # None: minted by FakeMastodon.token_for
    scopes: list[str]
    created_at: int = field(default_factory=lambda: int(time.time()))
    revoked: bool = False


def json_error(status: int, message: str, **headers: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    response.headers.update(headers)
    return response


def oauth_error(status: int, error: str, description: str) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def html_error(error: str, description: str) -> Response:
    page = f"<!DOCTYPE html><html><body><h1>{error}</h1><p>{escape(description)}</p></body></html>"
    return Response(page, 400, content_type="text/html; charset=utf-8")


def authenticated_app(apps: dict[str, App]) -> App | None:
    """client_secret_basic or client_secret_post: Doorkeeper accepts both."""
    auth = request.authorization
    if auth and auth.type == "basic":
        client_id, secret = auth.username or "", auth.password or ""
    else:
        client_id, secret = request.form.get("client_id", ""), request.form.get("client_secret", "")
    app = apps.get(client_id)
    if app is None or not secrets.compare_digest(app.client_secret, secret):
        return None
    return app


def _redirect_uris(params: Any) -> list[str]:
    """A JSON array, form `redirect_uris[]`, or one string of URIs separated by whitespace."""
    uris = params.get("redirect_uris") if request.is_json else None
    if uris is None:
        uris = request.form.getlist("redirect_uris[]") or params.get("redirect_uris", "")
    return uris.split() if isinstance(uris, str) else [str(u) for u in uris]


def add_oauth_routes(fake: Any) -> None:
    """Register the routes on `fake.app`; state lives on `fake` (apps, codes, tokens)."""
    app = fake.app

    @app.post("/api/v1/apps")
    def register_app():
        params = request.get_json(silent=True) or request.form
        uris = _redirect_uris(params)
        scopes = str(params.get("scopes") or "read").split()
        errors = []
        if not params.get("client_name"):
            errors.append("Application name can't be blank")
        if not uris:
            errors.append("Redirect URI can't be blank")
        elif not all(u == OOB or "://" in u for u in uris):
            errors.append("Redirect URI must be an absolute URI.")
        if not all(known_scope(s) for s in scopes):
            errors.append("Scopes doesn't match configured on the server.")
        if errors:
            return json_error(422, "Validation failed: " + ", ".join(errors))
        record = App(
            str(len(fake.apps) + 1), params["client_name"], params.get("website"), uris, scopes
        )
        fake.apps[record.client_id] = record
        return jsonify(
            id=record.id,
            name=record.name,
            website=record.website,
            scopes=record.scopes,
            redirect_uri="\n".join(uris),  # deprecated in 4.3, still sent
            redirect_uris=uris,
            vapid_key="BFakeVapidKeyForLoopbackTests",
            client_id=record.client_id,
            client_secret=record.client_secret,
            client_secret_expires_at=0,
        )

    @app.get("/oauth/authorize")
    def authorize():
        args = request.args  # force_login, lang and unknown parameters are accepted and ignored
        record = fake.apps.get(args.get("client_id", ""))
        if record is None:
            return html_error("invalid_client", INVALID_CLIENT)
        redirect_uri = args.get("redirect_uri", "")
        if redirect_uri not in record.redirect_uris:
            return html_error("invalid_redirect_uri", BAD_REDIRECT)

        def back(**params: str):
            return redirect(with_query(redirect_uri, **params, state=args.get("state")))

        if args.get("response_type") != "code":
            return back(error="unsupported_response_type", error_description=BAD_RESPONSE_TYPE)
        scopes = (args.get("scope") or "read").split()
        if not set(scopes) <= set(record.scopes):
            return back(error="invalid_scope", error_description=BAD_SCOPE)
        challenge = args.get("code_challenge")
        if challenge and args.get("code_challenge_method") != "S256":  # 4.3 takes S256 only
            description = "The code_challenge_method must be one of S256."
            return back(error="invalid_request", error_description=description)
        if fake.deny:
            return back(error="access_denied", error_description=DENIED)
        code = secrets.token_urlsafe(32)
        fake.codes[code] = Grant(fake.approve_as, record.client_id, redirect_uri, scopes, challenge)
        return back(code=code)

    @app.post("/oauth/token")
    def token():
        form = request.form
        grant_type = form.get("grant_type")
        if not grant_type:
            return oauth_error(400, "invalid_request", "Missing required parameter: grant_type.")
        if grant_type not in {"authorization_code", "client_credentials"}:
            return oauth_error(400, "unsupported_grant_type", BAD_GRANT_TYPE)
        record = authenticated_app(fake.apps)
        if record is None:
            return oauth_error(401, "invalid_client", INVALID_CLIENT)
        if grant_type == "client_credentials":
            scopes = (form.get("scope") or "read").split()
            if not set(scopes) <= set(record.scopes):
                return oauth_error(400, "invalid_scope", BAD_SCOPE)
            issued = Token(None, record.client_id, scopes)
        else:
            code = form.get("code")
            if not code:
                return oauth_error(400, "invalid_request", "Missing required parameter: code.")
            grant = fake.codes.get(code)
            if (
                grant is None
                or grant.client_id != record.client_id
                or time.time() - grant.issued > CODE_TTL
                or form.get("redirect_uri") != grant.redirect_uri
            ):
                return oauth_error(400, "invalid_grant", INVALID_GRANT)
            if grant.challenge:
                verifier = form.get("code_verifier")
                if not verifier:
                    missing = "Missing required parameter: code_verifier."
                    return oauth_error(400, "invalid_request", missing)
                if not secrets.compare_digest(s256(verifier), grant.challenge):
                    return oauth_error(400, "invalid_grant", INVALID_GRANT)
            del fake.codes[code]  # single use: a second exchange is invalid_grant
            issued = Token(grant.user, record.client_id, grant.scopes)
        value = secrets.token_urlsafe(32)
        fake.tokens[value] = issued
        response = jsonify(
            access_token=value,
            token_type="Bearer",
            scope=" ".join(issued.scopes),
            created_at=issued.created_at,
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.post("/oauth/revoke")
    def revoke():
        record = authenticated_app(fake.apps)
        issued = fake.tokens.get(request.form.get("token", ""))
        if record is None or (issued and issued.client_id not in {None, record.client_id}):
            description = "You are not authorized to revoke this token"
            return oauth_error(403, "unauthorized_client", description)
        if issued:
            issued.revoked = True
        return jsonify({})  # unknown tokens too (RFC 7009)
