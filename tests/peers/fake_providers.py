"""pytest plugin: loopback GitHub and Facebook OAuth servers that follow the providers' documented
endpoints and JSON, so the app's OAuth code runs against real HTTP with real checks.

GitHub (docs.github.com "Authorizing OAuth apps", REST "Users" / "Emails"):
  GET  /login/oauth/authorize     -> 302 to redirect_uri with code+state (or error=access_denied)
  POST /login/oauth/access_token  -> checks client_id/secret, code, redirect_uri, PKCE verifier;
                                     JSON if Accept: application/json, else a form; errors are 200s
  GET  /user, /user/emails        -> Bearer token
Facebook (developers.facebook.com "Manually Build a Login Flow", Graph API v19.0):
  GET  /v19.0/dialog/oauth        -> 302 with code+state (or error=access_denied, user_denied)
  GET  /v19.0/oauth/access_token  -> {"access_token","token_type","expires_in"}; errors are 400s
  GET  /v19.0/me?fields=id,name,email -> the requested fields; no email when the person has none
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from flask import jsonify, redirect, request

from tests.peers.loopback_oauth import LoopbackProvider, with_query


class FakeGitHub(LoopbackProvider):
    name = "github"

    def add_user(
        self,
        key: str,
        *,
        id: int,
        name: str = "",
        emails: list[dict] | None = None,
        public_email: str | None = None,
    ) -> None:
        self.users[key] = {
            "id": id,
            "name": name,
            "emails": emails or [],
            "public_email": public_email,
        }

    def routes(self) -> None:
        app = self.app

        @app.get("/login/oauth/authorize")
        def authorize():
            args = request.args
            if args.get("client_id") != self.client_id:
                return "Application not found", 404
            state = args.get("state")
            redirect_uri = args.get("redirect_uri") or self.redirect_uri
            if redirect_uri != self.redirect_uri:
                return redirect(
                    with_query(
                        self.redirect_uri,
                        error="redirect_uri_mismatch",
                        state=state,
                        error_description="The redirect_uri MUST match the registered callback URL "
                        "for this application.",
                    )
                )
            if self.deny:
                return redirect(
                    with_query(
                        redirect_uri,
                        error="access_denied",
                        state=state,
                        error_description="The user has denied your application access.",
                    )
                )
            # `login` is GitHub's documented "suggest a specific account" parameter.
            code = self.issue_code(self.pick_user(args.get("login")), redirect_uri)
            return redirect(with_query(redirect_uri, code=code, state=state))

        @app.post("/login/oauth/access_token")
        def access_token():
            token, error = self.redeem(request.form.to_dict())
            if error:
                body = {"error": error, "error_description": error.replace("_", " ")}
            else:
                body = {
                    "access_token": token,
                    "scope": "read:user,user:email",
                    "token_type": "bearer",
                }
            if "application/json" in request.headers.get("Accept", ""):
                return jsonify(body)  # GitHub answers 200 even for errors
            return urlencode(body), 200, {"Content-Type": "application/x-www-form-urlencoded"}

        @app.get("/user")
        def user():
            key = self.bearer_user()
            if key is None:
                return jsonify(
                    message="Bad credentials", documentation_url="https://docs.github.com/rest"
                ), 401
            u = self.users[key]
            return jsonify(
                login=key,
                id=u["id"],
                node_id=f"U_{u['id']}",
                name=u["name"] or None,
                email=u["public_email"],
                avatar_url=f"{self.url}/avatars/{u['id']}",
                type="User",
            )

        @app.get("/user/emails")
        def emails():
            key = self.bearer_user()
            if key is None:
                return jsonify(message="Bad credentials"), 401
            return jsonify([{"visibility": None, **e} for e in self.users[key]["emails"]])


class FakeFacebook(LoopbackProvider):
    name = "facebook"
    version = "v19.0"

    def add_user(self, key: str, *, id: str, name: str, email: str | None = None) -> None:
        self.users[key] = {"id": id, "name": name, "email": email}

    @staticmethod
    def graph_error(message: str, code: int = 190, status: int = 400):
        body = {"type": "OAuthException", "code": code, "message": message, "fbtrace_id": "Afake"}
        return jsonify(error=body), status

    def routes(self) -> None:
        app, v = self.app, self.version

        @app.get(f"/{v}/dialog/oauth")
        def dialog():
            args = request.args
            if args.get("client_id") != self.client_id:
                return "Invalid App ID", 400
            redirect_uri = args.get("redirect_uri", "")
            if redirect_uri != self.redirect_uri:
                return (
                    "URL blocked: this redirect failed because the redirect URI is not whitelisted",
                    400,
                )
            state = args.get("state")
            if self.deny:
                return redirect(
                    with_query(
                        redirect_uri,
                        error="access_denied",
                        error_code=200,
                        error_description="Permissions error",
                        error_reason="user_denied",
                        state=state,
                    )
                )
            # login_hint is not a Facebook parameter; the fake uses it to pick the signed-in person.
            code = self.issue_code(self.pick_user(args.get("login_hint")), redirect_uri)
            return redirect(with_query(redirect_uri, code=code, state=state))

        @app.route(f"/{v}/oauth/access_token", methods=["GET", "POST"])
        def access_token():
            params = request.args if request.method == "GET" else request.form  # never a GET body
            token, error = self.redeem(params.to_dict())
            if error == "incorrect_client_credentials":
                return self.graph_error("Error validating client secret.", code=1)
            if error:
                return self.graph_error(f"Invalid verification code format. ({error})", code=100)
            return jsonify(access_token=token, token_type="bearer", expires_in=5183944)

        @app.get(f"/{v}/me")
        def me():
            key = self.bearer_user()
            if key is None:
                return self.graph_error("Invalid OAuth access token - Cannot parse access token")
            profile = self.users[key]
            fields = (request.args.get("fields") or "id,name").split(",")
            return jsonify({f: profile[f] for f in fields if profile.get(f) is not None})


GITHUB_CLIENT = ("gh-client-id", "gh-client-secret")
FACEBOOK_CLIENT = ("fb-app-id", "fb-app-secret")
CALLBACK = "http://localhost/auth/oauth/{}/callback"  # the Flask test client's host


@pytest.fixture(scope="session")
def fake_github_server() -> Iterator[FakeGitHub]:
    server = FakeGitHub(*GITHUB_CLIENT, CALLBACK.format("github"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_facebook_server() -> Iterator[FakeFacebook]:
    server = FakeFacebook(*FACEBOOK_CLIENT, CALLBACK.format("facebook"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def github(app, fake_github_server: FakeGitHub, oauth_settings) -> Iterator[FakeGitHub]:
    """The app's GitHub sign-in pointed at the loopback fake (fresh users per test)."""
    fake_github_server.reset()
    base = fake_github_server.url
    oauth_settings(
        GITHUB_CLIENT_ID=GITHUB_CLIENT[0],
        GITHUB_CLIENT_SECRET=GITHUB_CLIENT[1],
        GITHUB_AUTHORIZE_URL=f"{base}/login/oauth/authorize",
        GITHUB_TOKEN_URL=f"{base}/login/oauth/access_token",
        GITHUB_API_BASE_URL=f"{base}/",
    )
    yield fake_github_server


@pytest.fixture
def facebook(app, fake_facebook_server: FakeFacebook, oauth_settings) -> Iterator[FakeFacebook]:
    """The app's Facebook sign-in pointed at the loopback fake (fresh users per test)."""
    fake_facebook_server.reset()
    base, v = fake_facebook_server.url, FakeFacebook.version
    oauth_settings(
        FACEBOOK_CLIENT_ID=FACEBOOK_CLIENT[0],
        FACEBOOK_CLIENT_SECRET=FACEBOOK_CLIENT[1],
        FACEBOOK_AUTHORIZE_URL=f"{base}/{v}/dialog/oauth",
        FACEBOOK_TOKEN_URL=f"{base}/{v}/oauth/access_token",
        FACEBOOK_API_BASE_URL=f"{base}/{v}/",
    )
    yield fake_facebook_server
