"""Facebook Pages: Facebook Login (OAuth 2 code flow), then the Page picture and cover.

platforms.md §3. Personal profiles have no writable picture in the Graph API, so only Pages the
person manages can be connected. The sign-in yields a short-lived user token; we trade it for a
long-lived one (≈60 days), list the person's Pages with `/me/accounts` and let them choose. Each
chosen Page becomes its own account holding that Page's token, which has no expiry when it comes
from a long-lived user token (it dies on a password change, a lost Page role or app removal,
answered with code 190: reconnect).

Both images go up the same way: an unpublished photo (`POST /{page}/photos`, so nothing appears
in the Page's feed), then that photo is made the picture (`/{page}/picture`) or the cover
(`cover` on the Page, with `no_feed_story`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from flask import current_app

from app.infra.http import PlatformHttp
from app.models import PlatformAccount
from app.services import crypto
from app.services.images import presets
from app.services.platforms.base import (
    Adapter,
    Authorization,
    Capabilities,
    ChooseAccounts,
    ConnectFailed,
    Connection,
    Permanent,
    Pushed,
    PushFailure,
    ReconnectNeeded,
    RetryLater,
    after,
    json_body,
    network_failure,
)

GRAPH_VERSION = "v25.0"
# pages_manage_metadata edits the Page (picture, cover); pages_manage_posts uploads the
# unpublished photo; pages_show_list and pages_read_engagement let /me/accounts list the Pages.
SCOPES = "pages_show_list,pages_manage_metadata,pages_manage_posts,pages_read_engagement"
# Graph's throttling codes (app, user, Page and Business Use Case limits).
THROTTLED = {4, 17, 32, 613, *range(80000, 80015)}
TRANSIENT = {1, 2}  # "unknown error" and "service temporarily unavailable"
# Permission errors (#10, #200–#299): the token lacks a permission or the person lost their
# role on the Page; signing in again is how a person grants it back.
PERMISSION = {10, *range(200, 300)}
PAGES_PER_REQUEST = 100
MAX_LIST_REQUESTS = 20  # /me/accounts pages followed; 2,000 Pages is more than anyone manages
NOT_CONFIGURED = "Facebook Pages is not configured on this site."
NO_PAGES = (
    "You signed in, but you don't manage any Facebook Page (you need full control of a Page, "
    "the MANAGE task). Personal profiles cannot be changed through Facebook's API."
)


def _config(name: str) -> str:
    return (current_app.config.get(name) or "").rstrip("/")


def _api(path: str) -> str:
    return f"{_config('FACEBOOK_PAGES_API_BASE_URL')}/{GRAPH_VERSION}{path}"


def _proof(token: str) -> dict[str, str]:
    """The token plus appsecret_proof, so calls also work when the app requires the proof
    (Facebook's "Require App Secret" setting); the proof is HMAC-SHA256(token, app secret)."""
    params = {"access_token": token}
    secret = current_app.config.get("FACEBOOK_PAGES_CLIENT_SECRET")
    if secret:
        params["appsecret_proof"] = hmac.new(
            secret.encode(), token.encode(), hashlib.sha256
        ).hexdigest()
    return params


def graph_error(response: requests.Response) -> dict[str, Any] | None:
    """The `error` object of a Graph answer, if it has one."""
    error = json_body(response).get("error")
    return error if isinstance(error, dict) else None


def _message(error: dict[str, Any] | None, response: requests.Response) -> str:
    message = (error or {}).get("message")
    if isinstance(message, str) and message.strip():
        return message.strip()[:500]
    return f"HTTP {response.status_code}"


def regain_at(header: str | None) -> datetime | None:
    """When a Business Use Case limit lifts: X-Business-Use-Case-Usage is JSON keyed by business
    object id, each a list of usages with `estimated_time_to_regain_access` in minutes."""
    try:
        usage = json.loads(header) if header else None
    except ValueError:
        return None
    minutes = [
        entry.get("estimated_time_to_regain_access")
        for entries in (usage.values() if isinstance(usage, dict) else [])
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    waits = [m for m in minutes if isinstance(m, int | float) and not isinstance(m, bool) and m > 0]
    return after(max(waits) * 60) if waits else None


class FacebookPages(Adapter):
    key = "facebook_pages"
    label = "Facebook Pages"
    capabilities = Capabilities(
        slots={"avatar": "fb_page_picture", "banner": "fb_page_cover"}, connect="oauth"
    )
    # `current_image_url` names the picture (a CDN path without its signed query, a cover's
    # photo id) rather than a file we may download, so the drift watch cannot compare it.
    readable = False

    def is_configured(self) -> bool:
        return bool(current_app.config.get("FACEBOOK_PAGES_CLIENT_ID"))

    # Connecting

    def start_authorization(self, form: dict[str, str], redirect_uri: str) -> Authorization:
        if not self.is_configured():
            raise ConnectFailed(NOT_CONFIGURED)
        state = secrets.token_urlsafe(24)
        query = urlencode(
            {
                "client_id": current_app.config["FACEBOOK_PAGES_CLIENT_ID"],
                "redirect_uri": redirect_uri,
                "state": state,
                "response_type": "code",
                "scope": SCOPES,
            }
        )
        auth_base = _config("FACEBOOK_PAGES_AUTH_BASE_URL")
        return Authorization(f"{auth_base}/{GRAPH_VERSION}/dialog/oauth?{query}", {"state": state})

    def finish_authorization(
        self, pending: dict[str, Any], args: dict[str, str], redirect_uri: str
    ) -> ChooseAccounts:
        if not self.is_configured():
            raise ConnectFailed(NOT_CONFIGURED)
        if args.get("error"):
            raise ConnectFailed("Facebook did not authorize Linkarooie.")
        if not args.get("code"):
            raise ConnectFailed("That authorization has expired; please connect again.")
        client = {
            "client_id": current_app.config["FACEBOOK_PAGES_CLIENT_ID"],
            "client_secret": current_app.config.get("FACEBOOK_PAGES_CLIENT_SECRET") or "",
        }
        http = PlatformHttp()
        try:
            short = self._token(
                http, {**client, "redirect_uri": redirect_uri, "code": args["code"]}
            )
            # The code's token lasts hours; the long-lived one ≈60 days, and Page tokens read
            # with it never expire.
            long_lived = self._token(
                http, {**client, "grant_type": "fb_exchange_token", "fb_exchange_token": short}
            )
            pages = self._manageable_pages(http, long_lived)
        except requests.RequestException:
            raise ConnectFailed("Facebook could not be reached; try again.") from None
        finally:
            http.close()
        if not pages:
            raise ConnectFailed(NO_PAGES)
        return ChooseAccounts(
            options=[(page["id"], page["name"]) for page in pages],
            # The session cookie is signed, not encrypted: the token goes in encrypted.
            pending={"user_token": crypto.encrypt(long_lived)},
        )

    def finish_choice(self, pending: dict[str, Any], chosen: list[str]) -> list[Connection]:
        try:
            user_token = crypto.decrypt(str(pending.get("user_token") or ""))
        except crypto.EncryptionKeyError:
            raise ConnectFailed("That sign-in has expired; please connect again.") from None
        http = PlatformHttp()
        try:
            pages = {page["id"]: page for page in self._manageable_pages(http, user_token)}
        except requests.RequestException:
            raise ConnectFailed("Facebook could not be reached; try again.") from None
        finally:
            http.close()
        wanted = list(dict.fromkeys(chosen))  # in order, once each
        if not wanted or any(remote_id not in pages for remote_id in wanted):
            raise ConnectFailed("Choose among the Facebook Pages you manage.")
        return [
            Connection(
                remote_id=remote_id,
                handle=pages[remote_id]["name"],
                access_token=pages[remote_id]["access_token"],
                scopes=SCOPES,
            )
            for remote_id in wanted
        ]

    def _token(self, http: PlatformHttp, params: dict[str, str]) -> str:
        response = http.get(_api("/oauth/access_token"), params=params)
        error = graph_error(response)
        token = None if error else json_body(response).get("access_token")
        if response.status_code != 200 or not isinstance(token, str) or not token:
            raise ConnectFailed(f"Facebook refused the sign-in: {_message(error, response)}")
        return token

    def _manageable_pages(self, http: PlatformHttp, user_token: str) -> list[dict[str, str]]:
        """The Pages the person may edit (the MANAGE task), following Graph's paging."""
        api = urlsplit(_config("FACEBOOK_PAGES_API_BASE_URL"))
        url = _api("/me/accounts")
        params: dict[str, str] = {
            "fields": "id,name,access_token,tasks",
            "limit": str(PAGES_PER_REQUEST),
        }
        pages: list[dict[str, str]] = []
        for _ in range(MAX_LIST_REQUESTS):
            response = http.get(url, params={**params, **_proof(user_token)})
            error = graph_error(response)
            body = json_body(response)
            if response.status_code != 200 or error:
                raise ConnectFailed(
                    f"Facebook would not list your Pages: {_message(error, response)}"
                )
            for page in body.get("data") or []:
                if (
                    isinstance(page, dict)
                    and "MANAGE" in (page.get("tasks") or [])
                    and all(isinstance(page.get(k), str) and page[k] for k in ("id", "name"))
                    and isinstance(page.get("access_token"), str)
                ):
                    pages.append(
                        {
                            "id": page["id"],
                            "name": page["name"][:200],
                            "access_token": page["access_token"],
                        }
                    )
            following = (body.get("paging") or {}).get("next")
            if not isinstance(following, str):
                break
            parts = urlsplit(following)
            # Only ever send the token back to the Graph host it came from.
            if (parts.scheme, parts.netloc) != (api.scheme, api.netloc):
                break
            url = f"{parts.scheme}://{parts.netloc}{parts.path}"
            params = dict(parse_qsl(parts.query))
        return pages

    # Using the account

    def push(self, account: PlatformAccount, slot: str, data: bytes, mime: str) -> Pushed:
        preset = presets.get(self.capabilities.slots[slot])
        if len(data) > preset.max_bytes:
            raise Permanent(
                f"Facebook Pages take images up to {preset.max_bytes // 1000} KB here; "
                f"this one is {len(data) // 1000} KB."
            )
        page_id = account.remote_id
        extension = "png" if mime == "image/png" else "jpg"
        uploaded = self._call(
            account,
            "POST",
            f"/{page_id}/photos",
            data={"published": "false"},
            files={"source": (f"{slot}.{extension}", data, mime)},
        )
        photo_id = uploaded.get("id")
        if not isinstance(photo_id, str | int) or not str(photo_id):
            raise RetryLater("Facebook did not say which photo it stored; will try again.")
        if slot == "avatar":
            self._call(account, "POST", f"/{page_id}/picture", data={"photo": str(photo_id)})
        else:
            answer = self._call(
                account,
                "POST",
                f"/{page_id}",
                data={"cover": str(photo_id), "no_feed_story": "true"},
            )
            if answer.get("success") is not True:
                raise RetryLater("Facebook did not confirm the new cover; will try again.")
        try:
            # Graph's answers to both calls carry no image URL; read back what the Page shows.
            return Pushed(remote_url=self.current_image_url(account, slot))
        except PushFailure:
            return Pushed()  # the image is set; only the confirmation read failed

    def current_image_url(self, account: PlatformAccount, slot: str) -> str | None:
        """An address naming the image the Page shows, stable while it shows it: Facebook's CDN
        URLs carry signed, expiring parameters (`oh`, `oe`) that change on their own, so the
        picture's is kept without its query, and the cover is named by its photo id."""
        page_id = account.remote_id
        if slot == "avatar":
            body = self._call(
                account, "GET", f"/{page_id}/picture", params={"redirect": "0", "type": "large"}
            )
            url = (body.get("data") or {}).get("url")
            if not isinstance(url, str) or not url:
                return None
            parts = urlsplit(url)
            return f"{parts.scheme}://{parts.netloc}{parts.path}"
        body = self._call(account, "GET", f"/{page_id}", params={"fields": "cover"})
        cover_id = (body.get("cover") or {}).get("id")
        return f"https://www.facebook.com/{cover_id}" if cover_id else None

    def profile_url(self, account: PlatformAccount) -> str | None:
        return f"https://www.facebook.com/{account.remote_id}"

    def _call(self, account: PlatformAccount, method: str, path: str, **kwargs) -> dict[str, Any]:
        token = _proof(account.access_token or "")
        if method == "GET":
            kwargs["params"] = {**kwargs.get("params", {}), **token}
        else:  # in the body, out of URLs that proxies and logs keep
            kwargs["data"] = {**kwargs.get("data", {}), **token}
        http = PlatformHttp()
        try:
            response = http.request(method, _api(path), **kwargs)
        except requests.RequestException as exc:
            raise network_failure(exc) from None
        finally:
            http.close()
        error = graph_error(response)
        if 200 <= response.status_code < 300 and error is None:
            return json_body(response)
        raise _failure(response, error)


def _failure(response: requests.Response, error: dict[str, Any] | None) -> PushFailure:
    status = response.status_code
    message = _message(error, response)
    code = (error or {}).get("code")
    if code == 190:
        return ReconnectNeeded(f"Facebook refused our access: {message}")
    if code in THROTTLED:
        regain = regain_at(response.headers.get("X-Business-Use-Case-Usage"))
        return RetryLater("Facebook's rate limit was reached.", regain, rate_limited=True)
    if code in TRANSIENT or (error or {}).get("is_transient") is True or status >= 500:
        return RetryLater(f"Facebook had a temporary problem ({message}); will try again.")
    if code in PERMISSION:
        return ReconnectNeeded(f"Facebook no longer lets Linkarooie change this Page: {message}")
    return Permanent(f"Facebook refused the image: {message}")
