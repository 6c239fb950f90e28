"""YouTube: Google OAuth 2 (code flow + PKCE, offline access) and the channel banner only.

platforms.md §9. The Data API has no method for the channel picture, so that stays a manual
export; the banner is two steps: `channelBanners.insert` stores the image and answers with a URL,
then `channels.update` points `brandingSettings.image.bannerExternalUrl` at it. That update
replaces the whole brandingSettings part, so we read the part first and send all of it back
(read-modify-write), or the channel's description, keywords and trailer would be wiped.

Tokens: access tokens last about an hour; `access_type=offline&prompt=consent` makes Google issue
a refresh token, which renews them (before a call when the token is about to expire, and once
after a 401). A refresh answered with `invalid_grant` means the person revoked us, or Google let
the grant lapse (7 days for apps still in "Testing", 6 months unused): the account needs
reconnecting.

Quota: every Google Cloud project gets 10,000 units a day by default, reset at midnight Pacific
time. A banner sync costs about 101: insert 50 + update 50 + list 1 (plus 1 for the engine's
look at the current banner before it pushes), so roughly 99 syncs a day per site. Running out
is a 403 `quotaExceeded`; Google sends no Retry-After for it, so we wait for the reset.

Over 300 lines on purpose: sign-in, token renewal and the two-step banner are one platform's
protocol, and the registry's rule is one module per platform.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import requests
from flask import current_app

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
    json_body,
    network_failure,
    retry_after,
)

SCOPE = "https://www.googleapis.com/auth/youtube"
# channelBanners.insert documents "6MB"; 6,000,000 bytes is below either reading of that.
MAX_BANNER_BYTES = 6_000_000
BANNER_TYPES = {"image/jpeg", "image/png"}
REFRESH_MARGIN = timedelta(seconds=60)
QUOTA_RESET_ZONE = ZoneInfo("America/Los_Angeles")
QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded"}
RATE_REASONS = {"userRateLimitExceeded", "rateLimitExceeded"}
NOT_CONFIGURED = "YouTube is not configured on this site."
REVOKED = "Google says the YouTube sign-in is expired or revoked; reconnect."
QUOTA_USED_UP = (
    "YouTube's daily API quota for this site is used up; will try again after it resets."
)
# Token endpoint errors worth explaining in words; anything else shows Google's description.
SIGN_IN_ERRORS = {
    "invalid_client": "Google did not accept this site's YouTube app credentials",
    "redirect_uri_mismatch": "the return address differs from the one the sign-in started with",
    "invalid_grant": "the sign-in code is invalid, expired or already used; please connect again",
}


def _config(name: str) -> str:
    return (current_app.config.get(name) or "").rstrip("/")


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def next_quota_reset(now: datetime | None = None) -> datetime:
    """The next midnight in Pacific time (when Google resets the daily quota), in UTC."""
    local = (now or datetime.now(UTC)).astimezone(QUOTA_RESET_ZONE)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(), QUOTA_RESET_ZONE)
    return midnight.astimezone(UTC)


def google_error(response: requests.Response) -> tuple[str, set[str]]:
    """Google's message and the `reason`s of `{"error": {"message", "errors": [{"reason"}]}}`."""
    error = json_body(response).get("error")
    if not isinstance(error, dict):
        return f"HTTP {response.status_code}", set()
    message = error.get("message")
    reasons = {
        item["reason"]
        for item in error.get("errors") or []
        if isinstance(item, dict) and isinstance(item.get("reason"), str)
    }
    if not isinstance(message, str) or not message.strip():
        message = f"HTTP {response.status_code}"
    return message.strip()[:500], reasons


def _failure(response: requests.Response) -> Exception:
    status = response.status_code
    message, reasons = google_error(response)
    if reasons & QUOTA_REASONS:
        return RetryLater(QUOTA_USED_UP, next_quota_reset(), rate_limited=True)
    if status == 429 or reasons & RATE_REASONS:
        return RetryLater(
            "YouTube's rate limit was reached.",
            retry_after(response.headers.get("Retry-After")),
            rate_limited=True,
        )
    if status >= 500 or status == 408:
        return RetryLater(
            f"YouTube answered {status}; will try again.",
            retry_after(response.headers.get("Retry-After")),
        )
    return Permanent(f"YouTube refused the banner: {message}")


class YouTube(Adapter):
    key = "youtube"
    label = "YouTube"
    refreshable = True
    capabilities = Capabilities(slots={"banner": "youtube_banner"}, connect="oauth", revocable=True)

    def is_configured(self) -> bool:
        return bool(current_app.config.get("YOUTUBE_CLIENT_ID"))

    # Connecting

    def start_authorization(self, form: dict[str, str], redirect_uri: str) -> Authorization:
        if not self.is_configured():
            raise ConnectFailed(NOT_CONFIGURED)
        state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": current_app.config["YOUTUBE_CLIENT_ID"],
                "redirect_uri": redirect_uri,
                "scope": SCOPE,
                # offline + consent: Google only hands out a refresh token on a fresh consent
                "access_type": "offline",
                "prompt": "consent",
                "state": state,
                "code_challenge": _challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        return Authorization(
            f"{_config('YOUTUBE_AUTH_BASE_URL')}/o/oauth2/v2/auth?{query}",
            {"state": state, "verifier": verifier},
        )

    def finish_authorization(
        self, pending: dict[str, Any], args: dict[str, str], redirect_uri: str
    ) -> Connection:
        if not self.is_configured():
            raise ConnectFailed(NOT_CONFIGURED)
        if args.get("error"):
            raise ConnectFailed("Google did not authorize Linkarooie.")
        if not args.get("code") or not pending.get("verifier"):
            raise ConnectFailed("That authorization has expired; please connect YouTube again.")
        http = PlatformHttp()
        try:
            response = http.post(
                _config("YOUTUBE_API_BASE_URL") + "/oauth2/v4/token",
                data={
                    "grant_type": "authorization_code",
                    "code": args["code"],
                    "client_id": current_app.config["YOUTUBE_CLIENT_ID"],
                    "client_secret": current_app.config.get("YOUTUBE_CLIENT_SECRET") or "",
                    "redirect_uri": redirect_uri,
                    "code_verifier": pending["verifier"],
                },
            )
            token = json_body(response)
            if response.status_code != 200 or not token.get("access_token"):
                raise ConnectFailed(f"Google refused the sign-in: {_sign_in_error(response)}.")
            granted = str(token.get("scope") or "").split()
            if SCOPE not in granted:
                # Google's consent screen lets people untick a scope and still continue.
                raise ConnectFailed(
                    "Linkarooie needs permission to manage your YouTube account to change "
                    "the banner; please connect again and allow it."
                )
            if not token.get("refresh_token"):
                # Without one the account would stop working within the hour, silently.
                raise ConnectFailed(
                    "Google did not grant offline access, which Linkarooie needs to update "
                    "your banner later; please connect again and allow it."
                )
            channel = self._channel(http, token["access_token"])
        except requests.RequestException:
            raise ConnectFailed("Google could not be reached; try again.") from None
        finally:
            http.close()
        snippet = channel.get("snippet") or {}
        return Connection(
            remote_id=channel["id"],
            handle=snippet.get("customUrl") or snippet.get("title") or channel["id"],
            access_token=token["access_token"],
            refresh_token=token["refresh_token"],
            expires_at=_expiry(token),
            scopes=" ".join(granted),
        )

    def _channel(self, http: PlatformHttp, access_token: str) -> dict[str, Any]:
        response = http.get(
            _config("YOUTUBE_API_BASE_URL") + "/youtube/v3/channels",
            params={"part": "snippet,brandingSettings", "mine": "true"},
            headers={"Authorization": f"Bearer {access_token}"},
        )
        if response.status_code != 200:
            message, reasons = google_error(response)
            if reasons & QUOTA_REASONS:
                raise ConnectFailed(
                    "YouTube's daily API quota for this site is used up; "
                    "try again after midnight Pacific time."
                )
            raise ConnectFailed(f"YouTube did not tell us your channel: {message}")
        items = json_body(response).get("items") or []
        if not items or not isinstance(items[0], dict) or not items[0].get("id"):
            raise ConnectFailed(
                "This Google account has no YouTube channel. Create one on YouTube, or sign in "
                "with the Google account that owns your channel, then connect again."
            )
        return items[0]

    # Using the account

    def push(self, account: PlatformAccount, slot: str, data: bytes, mime: str) -> Pushed:
        if len(data) > MAX_BANNER_BYTES:
            raise Permanent(
                f"YouTube accepts banners up to {MAX_BANNER_BYTES:,} bytes; "
                f"this one is {len(data):,} bytes."
            )
        if mime not in BANNER_TYPES:
            raise Permanent("YouTube only takes JPEG or PNG banners.")
        http = PlatformHttp()
        try:
            inserted = self._call(
                http,
                account,
                "POST",
                "/upload/youtube/v3/channelBanners/insert",
                params={"uploadType": "media"},
                data=data,
                headers={"Content-Type": mime},
            )
            url = inserted.get("url")
            if not isinstance(url, str) or not url:
                raise RetryLater("YouTube did not say where it stored the banner; will try again.")
            channel = self._branding(http, account)
            # The update overwrites every mutable field of the part: send back all we read.
            branding = dict(channel.get("brandingSettings") or {})
            branding["image"] = {**(branding.get("image") or {}), "bannerExternalUrl": url}
            self._call(
                http,
                account,
                "PUT",
                "/youtube/v3/channels",
                params={"part": "brandingSettings"},
                json={"id": channel["id"], "brandingSettings": branding},
            )
        finally:
            http.close()
        return Pushed(remote_url=url)

    def current_image_url(self, account: PlatformAccount, slot: str) -> str | None:
        http = PlatformHttp()
        try:
            channel = self._branding(http, account)
        finally:
            http.close()
        image = (channel.get("brandingSettings") or {}).get("image") or {}
        return image.get("bannerExternalUrl") or None

    def refresh(self, account: PlatformAccount) -> None:
        http = PlatformHttp()
        try:
            self._refresh(http, account)
        finally:
            http.close()

    def revoke(self, account: PlatformAccount) -> None:
        # Revoking the refresh token ends the whole grant, access tokens included.
        token = account.refresh_token or account.access_token
        if not token:
            return
        http = PlatformHttp()
        try:
            http.post(_config("YOUTUBE_AUTH_BASE_URL") + "/o/oauth2/revoke", data={"token": token})
        finally:
            http.close()

    def profile_url(self, account: PlatformAccount) -> str | None:
        return f"https://www.youtube.com/channel/{account.remote_id}"

    def _branding(self, http: PlatformHttp, account: PlatformAccount) -> dict[str, Any]:
        answer = self._call(
            http,
            account,
            "GET",
            "/youtube/v3/channels",
            params={"part": "brandingSettings", "mine": "true"},
        )
        items = answer.get("items") or []
        if not items or not isinstance(items[0], dict) or not items[0].get("id"):
            raise Permanent("This Google account no longer has a YouTube channel.")
        return items[0]

    def _call(
        self, http: PlatformHttp, account: PlatformAccount, method: str, path: str, **kwargs
    ) -> dict[str, Any]:
        if not self.is_configured():
            raise RetryLater(f"{NOT_CONFIGURED} Will try again.")
        if account.expires_at is None or account.expires_at - REFRESH_MARGIN < datetime.now(UTC):
            self._refresh(http, account)
        headers = kwargs.pop("headers", {})
        for attempt in range(2):
            try:
                response = http.request(
                    method,
                    _config("YOUTUBE_API_BASE_URL") + path,
                    headers={**headers, "Authorization": f"Bearer {account.access_token}"},
                    **kwargs,
                )
            except requests.RequestException as exc:
                raise network_failure(exc) from None
            if 200 <= response.status_code < 300:
                return json_body(response)
            if response.status_code != 401:
                raise _failure(response)
            if attempt == 0:
                # Our clock and Google's disagree, or the token was revoked: a new one decides.
                self._refresh(http, account)
        raise ReconnectNeeded(f"YouTube refused our access: {google_error(response)[0]}")

    def _refresh(self, http: PlatformHttp, account: PlatformAccount) -> None:
        if not account.refresh_token:
            raise ReconnectNeeded(REVOKED)
        try:
            response = http.post(
                _config("YOUTUBE_API_BASE_URL") + "/oauth2/v4/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": account.refresh_token,
                    "client_id": current_app.config["YOUTUBE_CLIENT_ID"],
                    "client_secret": current_app.config.get("YOUTUBE_CLIENT_SECRET") or "",
                },
            )
        except requests.RequestException as exc:
            raise network_failure(exc) from None
        token = json_body(response)
        if response.status_code == 200 and token.get("access_token"):
            account.access_token = token["access_token"]
            account.expires_at = _expiry(token)
            # Google usually keeps the refresh token and leaves it out of the answer.
            account.refresh_token = token.get("refresh_token") or account.refresh_token
            return
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryLater(
                f"Google's sign-in service answered {response.status_code}; will try again.",
                retry_after(response.headers.get("Retry-After")),
                rate_limited=response.status_code == 429,
            )
        if token.get("error") == "invalid_client":
            # The site's credentials, not the person's: reconnecting would not help.
            raise RetryLater(
                "Google did not accept this site's YouTube app credentials; will try again."
            )
        if token.get("error") == "invalid_grant":
            raise ReconnectNeeded(REVOKED)
        raise ReconnectNeeded(
            f"Google refused to renew the YouTube sign-in ({_sign_in_error(response)}); reconnect."
        )


def _sign_in_error(response: requests.Response) -> str:
    body = json_body(response)
    code = body.get("error")
    if not isinstance(code, str) or not code:
        return f"HTTP {response.status_code}"
    description = body.get("error_description")
    explained = SIGN_IN_ERRORS.get(code) or (
        description.strip()[:300] if isinstance(description, str) and description.strip() else ""
    )
    return f"{explained} ({code})" if explained else code


def _expiry(token: dict[str, Any]) -> datetime:
    try:
        seconds = float(token.get("expires_in") or 3600)
    except (TypeError, ValueError):
        seconds = 3600.0
    return datetime.now(UTC) + timedelta(seconds=seconds)
