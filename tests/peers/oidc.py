"""pytest plugin: a REAL OpenID Provider (npm `oidc-provider`, tests/peers/op.mjs) on 127.0.0.1
as Google, plus the helpers every OAuth test uses: `oauth_settings` (point the app's providers
somewhere for one test), `follow_provider` (play the person's browser through the provider's
redirects) and `new_browser` (a second client).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
import requests
from flask import g

from tests.conftest import CSRFClient
from tests.peers.ports import start_server

ROOT = Path(__file__).resolve().parents[2]
OP_SCRIPT = Path(__file__).with_name("op.mjs")
APP_ORIGIN = "http://localhost"  # where the Flask test client lives
GOOGLE_CLIENT = ("linkarooie-google", "google-test-secret")
OP_USERS = {
    "alice-sub": {"email": "alice@example.com", "email_verified": True, "name": "Alice Example"},
    "bob-sub": {"email": "bob@example.com", "email_verified": True, "name": "Bob Builder"},
    "mallory-sub": {"email": "mallory@example.com", "email_verified": False, "name": "Mallory"},
}
_MISSING = object()


@dataclass(frozen=True)
class OpenIDProvider:
    issuer: str
    client_id: str
    client_secret: str

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


def _provider(port: int) -> OpenIDProvider:
    return OpenIDProvider(f"http://127.0.0.1:{port}", *GOOGLE_CLIENT)


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory) -> Iterator[OpenIDProvider]:
    """`node tests/peers/op.mjs <port>`: client secret, redirect URI, PKCE and nonce all checked."""
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(
            "the OIDC test provider needs Node and `npm ci` (oidc-provider is a devDependency)"
        )
    clients = [
        {
            "client_id": GOOGLE_CLIENT[0],
            "client_secret": GOOGLE_CLIENT[1],
            "redirect_uris": [f"{APP_ORIGIN}/auth/oauth/google/callback"],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
        }
    ]
    env = dict(os.environ, OP_CLIENTS=json.dumps(clients), OP_USERS=json.dumps(OP_USERS))
    log = tmp_path_factory.mktemp("oidc") / "op.log"

    def start(port: int) -> subprocess.Popen:
        with open(log, "wb") as out:
            return subprocess.Popen(
                [node, str(OP_SCRIPT), str(port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def answers(port: int) -> bool:
        try:
            return requests.get(_provider(port).discovery_url, timeout=2).ok
        except requests.ConnectionError:
            return False

    proc, port = start_server(start, answers, timeout=20, describe=lambda: log.read_text()[-2000:])
    provider = _provider(port)
    yield provider
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def oauth_settings(app) -> Iterator[Callable[..., None]]:
    """Change provider settings for one test and re-register the app's OAuth clients from them."""
    from app.blueprints.oauth.providers import register_providers

    saved: dict[str, Any] = {}

    def apply(**overrides: Any) -> None:
        for key, value in overrides.items():
            saved.setdefault(key, app.config.get(key, _MISSING))
            app.config[key] = value
        register_providers(app)

    yield apply
    for key, value in saved.items():
        if value is _MISSING:
            app.config.pop(key, None)
        else:
            app.config[key] = value
    register_providers(app)


class IsolatedClient(CSRFClient):
    """A second browser. The suite keeps one app context pushed for the whole test, so Flask-Login's
    per-request cache (g._login_user) would otherwise carry one client's user into another's
    request.
    """

    def open(self, *args: Any, **kwargs: Any):
        g.pop("_login_user", None)
        return super().open(*args, **kwargs)


@pytest.fixture
def new_browser(app) -> Callable[[], IsolatedClient]:
    """Make another browser (own cookies) for tests that involve more than one person or device."""
    return lambda: IsolatedClient(app, app.response_class, use_cookies=True)


@pytest.fixture
def google(app, oidc_provider: OpenIDProvider, oauth_settings) -> OpenIDProvider:
    """The app's Google sign-in pointed at the loopback OpenID Provider."""
    oauth_settings(
        GOOGLE_CLIENT_ID=oidc_provider.client_id,
        GOOGLE_CLIENT_SECRET=oidc_provider.client_secret,
        GOOGLE_DISCOVERY_URL=oidc_provider.discovery_url,
    )
    return oidc_provider


def follow_provider(client, response, *, tamper: Callable[[str], str] | None = None, **choose: str):
    """Play the browser: from the app's redirect to the provider, through the provider's hops,
    back to the app's callback (fed to the Flask test client). `choose` adds query parameters to
    the authorization URL the way a person picks an account (login_hint=..., login=...).
    Returns the app's response to the callback.
    """
    assert response.status_code in (302, 303), (response.status_code, response.get_data(True)[:500])
    url = response.headers["Location"]
    if choose:
        url += ("&" if "?" in url else "?") + urlencode(choose)
    browser = requests.Session()  # the provider's own cookies (interaction, session) live here
    for _ in range(10):
        if url.startswith(APP_ORIGIN + "/"):
            break
        hop = browser.get(url, allow_redirects=False, timeout=10)
        assert hop.status_code in (302, 303), (hop.status_code, hop.text[:500])
        url = urljoin(url, hop.headers["Location"])
    else:
        raise AssertionError(f"the provider never redirected back to the app: {url}")
    if tamper is not None:
        url = tamper(url)
    parts = urlsplit(url)
    g.pop("_login_user", None)  # see IsolatedClient: who is signed in comes from `client` only
    return client.get(parts.path + ("?" + parts.query if parts.query else ""))
