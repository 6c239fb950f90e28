"""X (Twitter): OAuth 1.0a user context and the v1.1 account endpoints for both images.

platforms.md §2. The v1.1 profile endpoints only accept OAuth 1.0a user tokens, so connecting is
the three-legged flow (request token → authorize → access token) signed by Authlib's client.
The tokens do not expire; a 401 (code 89) means the person revoked us. Pushes are multipart
uploads (`image` for the avatar, `banner` for the banner); profile text is a signed form POST to
`account/update_profile` (name, description, url, location). X publishes its rate limit in
`x-rate-limit-*` headers with the reset as Unix seconds, and never sends Retry-After.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import requests
from authlib.integrations.requests_client import OAuth1Session
from flask import current_app

from app.infra.http import USER_AGENT, check_url, platform_timeout
from app.models import PlatformAccount
from app.services.platforms.base import (
    Adapter,
    Authorization,
    Capabilities,
    ConnectFailed,
    Connection,
    Permanent,
    Pushed,
    ReconnectNeeded,
    RetryLater,
    TextLimit,
    json_body,
    network_failure,
    reset_from_epoch,
    whole_count,
)

AVATAR_LIMIT = 700 * 1024  # X refuses avatars over 700 KB (tweepy packs them the same way)
PUSHES = {
    "avatar": ("/1.1/account/update_profile_image.json", "image"),
    "banner": ("/1.1/account/update_profile_banner.json", "banner"),
}
SHOWN = {"avatar": "profile_image_url_https", "banner": "profile_banner_url"}
# Our profile text field -> account/update_profile's form field
TEXT_FIELDS = {
    "display_name": "name",
    "bio": "description",
    "website": "url",
    "location": "location",
}
INVALID_TOKEN = 89


def _config(name: str) -> str:
    return (current_app.config.get(name) or "").rstrip("/")


def _session(token: str | None = None, secret: str | None = None, **kwargs) -> OAuth1Session:
    """A session that signs every request with our consumer key (and the person's token)."""
    session = OAuth1Session(
        _config("X_CLIENT_ID"),
        current_app.config.get("X_CLIENT_SECRET"),
        token=token,
        token_secret=secret,
        **kwargs,
    )
    session.headers["User-Agent"] = USER_AGENT
    return session


def _send(session: OAuth1Session, method: str, path: str, **kwargs) -> requests.Response:
    url = _config("X_API_BASE_URL") + path
    check_url(url)
    kwargs.setdefault("timeout", platform_timeout())
    return session.request(method, url, allow_redirects=False, **kwargs)


def _message(response: requests.Response) -> str:
    """X's own words from `{"errors": [{"code", "message"}]}`, else the HTTP status."""
    errors = json_body(response).get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        message = errors[0].get("message")
        if isinstance(message, str) and message.strip():
            return message.strip()[:500]
    return f"HTTP {response.status_code}"


def _error_code(response: requests.Response) -> int | None:
    errors = json_body(response).get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = errors[0].get("code")
        return code if isinstance(code, int) else None
    return None


def _form(response: requests.Response) -> dict[str, str]:
    """A token endpoint's form-encoded answer."""
    return dict(parse_qsl(response.text)) if response.status_code == 200 else {}


class X(Adapter):
    key = "x"
    label = "X"
    capabilities = Capabilities(
        slots={"avatar": "x_avatar", "banner": "x_banner"},
        connect="oauth",
        revocable=True,
        text={
            "display_name": TextLimit(50),
            "bio": TextLimit(160),
            "website": TextLimit(100),
            "location": TextLimit(30),
        },
        pushes_text=True,
    )
    avatar_limit = AVATAR_LIMIT

    def is_configured(self) -> bool:
        config = current_app.config
        return bool(config.get("X_CLIENT_ID") and config.get("X_CLIENT_SECRET"))

    # Connecting

    def start_authorization(self, form: dict[str, str], redirect_uri: str) -> Authorization:
        if not self.is_configured():
            raise ConnectFailed("X is not configured on this site.")
        # Authlib decodes oauth_* values once too often while signing: a callback URL with a
        # percent-escape would be signed over the wrong string, so ours carries no query at all
        # and what we must remember waits in `pending`, keyed by the request token.
        session = _session(redirect_uri=redirect_uri)
        try:
            response = _send(session, "POST", "/oauth/request_token")
        except requests.RequestException:
            raise ConnectFailed("X could not be reached; try again.") from None
        finally:
            session.close()
        token = _form(response)
        if not token.get("oauth_token") or not token.get("oauth_token_secret"):
            raise ConnectFailed(f"X refused to start the sign-in: {_message(response)}")
        query = urlencode({"oauth_token": token["oauth_token"]})
        return Authorization(
            f"{_config('X_AUTH_BASE_URL')}/oauth/authorize?{query}",
            # "state" is what the callback route finds the round trip by.
            {"state": token["oauth_token"], "request_secret": token["oauth_token_secret"]},
        )

    def finish_authorization(
        self, pending: dict[str, Any], args: dict[str, str], redirect_uri: str
    ) -> Connection:
        if args.get("denied"):
            raise ConnectFailed("X did not authorize Linkarooie.")
        if args.get("oauth_token") != pending.get("state") or not args.get("oauth_verifier"):
            raise ConnectFailed("That authorization has expired; please connect X again.")
        session = _session(pending["state"], pending["request_secret"])
        session.auth.verifier = args["oauth_verifier"]
        try:
            response = _send(session, "POST", "/oauth/access_token")
            token = _form(response)
            if not token.get("oauth_token") or not token.get("oauth_token_secret"):
                raise ConnectFailed(f"X refused the sign-in: {_message(response)}")
            session.close()
            session = _session(token["oauth_token"], token["oauth_token_secret"])
            me = _send(session, "GET", "/1.1/account/verify_credentials.json")
        except requests.RequestException:
            raise ConnectFailed("X could not be reached; try again.") from None
        finally:
            session.close()
        account = json_body(me)
        if me.status_code != 200 or not account.get("id_str"):
            raise ConnectFailed(f"X did not tell us who you are: {_message(me)}")
        return Connection(
            remote_id=account["id_str"],
            handle=f"@{account.get('screen_name') or token.get('screen_name')}",
            access_token=token["oauth_token"],
            secret=token["oauth_token_secret"],
        )

    # Using the account

    def push(self, account: PlatformAccount, slot: str, data: bytes, mime: str) -> Pushed:
        if slot == "avatar" and len(data) > self.avatar_limit:
            raise Permanent(
                f"X accepts avatars up to {self.avatar_limit // 1024} KB; "
                f"this one is {len(data) // 1024} KB."
            )
        path, field = PUSHES[slot]
        extension = "png" if mime == "image/png" else "jpg"
        response = self._call(
            account, "POST", path, files={field: (f"{slot}.{extension}", data, mime)}
        )
        # The avatar answer is the user object; the banner's has no body worth reading.
        return Pushed(remote_url=json_body(response).get(SHOWN[slot]))

    def push_profile(self, account: PlatformAccount, text: dict[str, Any]) -> Pushed:
        # A form body, so it is part of the OAuth 1.0a signature (a multipart one is not)
        form = {TEXT_FIELDS[name]: value for name, value in text.items() if name in TEXT_FIELDS}
        self._call(account, "POST", "/1.1/account/update_profile.json", data=form, what="the text")
        return Pushed(remote_url=self.profile_url(account))

    def current_image_url(self, account: PlatformAccount, slot: str) -> str | None:
        response = self._call(account, "GET", "/1.1/account/verify_credentials.json")
        return json_body(response).get(SHOWN[slot])

    def followers(self, account: PlatformAccount) -> int | None:
        response = self._call(account, "GET", "/1.1/account/verify_credentials.json")
        return whole_count(json_body(response).get("followers_count"))

    def revoke(self, account: PlatformAccount) -> None:
        if not account.access_token or not self.is_configured():
            return
        session = _session(account.access_token, account.secret)
        try:
            _send(session, "POST", "/1.1/oauth/invalidate_token")
        finally:
            session.close()

    def profile_url(self, account: PlatformAccount) -> str | None:
        return f"https://x.com/{account.handle.lstrip('@')}"

    def _call(
        self, account: PlatformAccount, method: str, path: str, what: str = "the image", **kwargs
    ) -> requests.Response:
        if not self.is_configured():
            raise RetryLater("X is not configured on this site; will try again.")
        session = _session(account.access_token, account.secret)
        try:
            response = _send(session, method, path, **kwargs)
        except requests.RequestException as exc:
            raise network_failure(exc) from None
        finally:
            session.close()
        status = response.status_code
        if 200 <= status < 300:
            return response
        message = _message(response)
        if status == 401 or _error_code(response) == INVALID_TOKEN:
            raise ReconnectNeeded(f"X refused our access: {message}")
        if status == 429:
            reset = reset_from_epoch(response.headers.get("x-rate-limit-reset"))
            raise RetryLater("X's rate limit was reached.", reset, rate_limited=True)
        if status >= 500 or status == 408:
            raise RetryLater(f"X answered {status}; will try again.")
        raise Permanent(f"X refused {what}: {message}")
