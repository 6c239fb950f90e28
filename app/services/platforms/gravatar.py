"""Gravatar: OAuth 2 through WordPress.com, the avatar only, for the account's email.

platforms.md §10. The site operator registers one app (GRAVATAR_CLIENT_ID/SECRET); people sign
in at WordPress.com (authorization code + `state`), we read their email from WordPress.com's
`/rest/v1.1/me` and keep its SHA-256 (Gravatar's name for an email) as the remote id. A push
uploads the image (`POST /v3/me/avatars`) and then selects it for that email
(`POST /v3/me/avatars/{image_id}/email`). No refresh-token flow is documented and WordPress.com
tokens from the code flow do not expire, so none is stored: a 401 means "reconnect".
"""

from __future__ import annotations

import hashlib
import secrets
from io import BytesIO
from typing import Any
from urllib.parse import urlencode

import requests
from flask import current_app
from PIL import Image, UnidentifiedImageError

from app.infra.http import PlatformHttp
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
    error_text,
    json_body,
    network_failure,
    reset_from_epoch,
    retry_after,
)

# `auth` lets us read who signed in (their email); `gravatar-profile:manage` lets us upload.
SCOPES = "auth gravatar-profile:manage"
# The multipart field of the upload. The public sources disagree: the v3.0.0 OpenAPI bundled with
# the Android SDK (2024) calls it `data`, the current Gravatar docs and SDK 2.x call it `image`.
# We send `image`, what the newer, maintained descriptions of the same endpoint say.
UPLOAD_FIELD = "image"
NOT_CONFIGURED = "Gravatar is not configured on this site."
# Sites that show Gravatars (GitHub among them) ask for G-rated images only; an upload takes the
# account's default rating, which may be another.
RATING = "G"


def email_hash(email: str) -> str:
    """Gravatar's identifier for an email: SHA-256 of the trimmed, lower-cased address."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _config(name: str) -> str:
    return (current_app.config.get(name) or "").rstrip("/")


class Gravatar(Adapter):
    key = "gravatar"
    label = "Gravatar"
    capabilities = Capabilities(slots={"avatar": "gravatar_avatar"}, connect="oauth")

    def is_configured(self) -> bool:
        return bool(current_app.config.get("GRAVATAR_CLIENT_ID"))

    # Connecting

    def start_authorization(self, form: dict[str, str], redirect_uri: str) -> Authorization:
        if not self.is_configured():
            raise ConnectFailed(NOT_CONFIGURED)
        state = secrets.token_urlsafe(24)
        query = urlencode(
            {
                "client_id": current_app.config["GRAVATAR_CLIENT_ID"],
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": SCOPES,
                "state": state,
            }
        )
        return Authorization(
            f"{_config('GRAVATAR_AUTH_BASE_URL')}/oauth2/authorize?{query}", {"state": state}
        )

    def finish_authorization(
        self, pending: dict[str, Any], args: dict[str, str], redirect_uri: str
    ) -> Connection:
        if not self.is_configured():
            raise ConnectFailed(NOT_CONFIGURED)
        if args.get("error"):
            raise ConnectFailed("WordPress.com did not authorize Linkarooie.")
        if not args.get("code"):
            raise ConnectFailed("That authorization has expired; please connect again.")
        auth_base = _config("GRAVATAR_AUTH_BASE_URL")
        http = PlatformHttp()
        try:
            response = http.post(
                f"{auth_base}/oauth2/token",
                data={
                    "client_id": current_app.config["GRAVATAR_CLIENT_ID"],
                    "client_secret": current_app.config.get("GRAVATAR_CLIENT_SECRET") or "",
                    "redirect_uri": redirect_uri,
                    "grant_type": "authorization_code",
                    "code": args["code"],
                },
            )
            token = json_body(response).get("access_token")
            if response.status_code != 200 or not token:
                raise ConnectFailed(f"WordPress.com refused the sign-in: {error_text(response)}")
            me = http.get(f"{auth_base}/rest/v1.1/me", headers={"Authorization": f"Bearer {token}"})
        except requests.RequestException:
            raise ConnectFailed("WordPress.com could not be reached; try again.") from None
        finally:
            http.close()
        email = json_body(me).get("email")
        if me.status_code != 200 or not isinstance(email, str) or "@" not in email:
            raise ConnectFailed("WordPress.com did not tell us your email address.")
        return Connection(
            remote_id=email_hash(email),
            handle=email.strip().lower(),
            access_token=token,
            scopes=json_body(response).get("scope") or SCOPES,
        )

    # Using the account

    def push(self, account: PlatformAccount, slot: str, data: bytes, mime: str) -> Pushed:
        width, height = _dimensions(data)
        if width != height:
            raise Permanent(f"Gravatar only takes square images; this one is {width}×{height}.")
        extension = "png" if mime == "image/png" else "jpg"
        uploaded = json_body(
            self._call(
                account,
                "POST",
                "/v3/me/avatars",
                files={UPLOAD_FIELD: (f"avatar.{extension}", data, mime)},
            )
        )
        image_id = uploaded.get("image_id")
        if not isinstance(image_id, str) or not image_id:
            raise RetryLater("Gravatar did not say which image it stored; will try again.")
        if uploaded.get("rating") != RATING:
            self._call(account, "PATCH", f"/v3/me/avatars/{image_id}", json={"rating": RATING})
        self._call(
            account,
            "POST",
            f"/v3/me/avatars/{image_id}/email",
            json={"email_hash": account.remote_id},
        )
        return Pushed(remote_url=uploaded.get("image_url"))

    def current_image_url(self, account: PlatformAccount, slot: str) -> str | None:
        """The image selected for the account's email (its URL changes with every new image,
        unlike https://gravatar.com/avatar/<hash>, which is the same whatever it shows)."""
        response = self._call(
            account, "GET", "/v3/me/avatars", params={"selected_email_hash": account.remote_id}
        )
        try:
            avatars = response.json()
        except ValueError:
            return None
        for avatar in avatars if isinstance(avatars, list) else []:
            if isinstance(avatar, dict) and avatar.get("selected"):
                return avatar.get("image_url")
        return None

    def profile_url(self, account: PlatformAccount) -> str | None:
        return f"https://gravatar.com/avatar/{account.remote_id}"

    def _call(
        self, account: PlatformAccount, method: str, path: str, **kwargs
    ) -> requests.Response:
        http = PlatformHttp()
        try:
            response = http.request(
                method,
                _config("GRAVATAR_API_BASE_URL") + path,
                headers={"Authorization": f"Bearer {account.access_token}"},
                **kwargs,
            )
        except requests.RequestException as exc:
            raise network_failure(exc) from None
        finally:
            http.close()
        status = response.status_code
        if 200 <= status < 300:
            return response
        message = error_text(response, "error", "message")
        if status == 401:
            raise ReconnectNeeded(f"Gravatar refused our access: {message}")
        if status == 429:
            reset = reset_from_epoch(response.headers.get("X-RateLimit-Reset"))
            raise RetryLater("Gravatar's rate limit was reached.", reset, rate_limited=True)
        if status >= 500 or status == 408:
            raise RetryLater(
                f"Gravatar answered {status}; will try again.",
                retry_after(response.headers.get("Retry-After")),
            )
        raise Permanent(f"Gravatar refused the image: {message}")


def _dimensions(data: bytes) -> tuple[int, int]:
    """Width and height from the header (Gravatar refuses non-square images with a 400)."""
    try:
        with Image.open(BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError):
        raise Permanent("Gravatar only takes JPEG, PNG or GIF images.") from None
