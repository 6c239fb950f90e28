"""Mastodon (and servers speaking its API): OAuth 2 per instance, one PATCH for both images.

platforms.md §5. We register an app on each instance the first time someone connects from it
(`POST /api/v1/apps`, cached in platform_apps), run the authorization-code flow with PKCE and
`state`, and push with `PATCH /api/v1/accounts/update_credentials` (multipart `avatar`/`header`).
Tokens do not expire; a 401 means the person revoked us. The instance's own upload limit
(`/api/v2/instance` configuration) is checked before uploading.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.infra.http import PlatformHttp, normalize_base_url
from app.models import PlatformAccount, PlatformApp
from app.services.platforms.base import (
    Adapter,
    Authorization,
    Capabilities,
    ConnectFailed,
    Connection,
    LinkFields,
    Permanent,
    Pushed,
    ReconnectNeeded,
    RetryLater,
    TextLimit,
    error_text,
    json_body,
    network_failure,
    reset_from_iso,
    retry_after,
    whole_count,
)

SCOPES = "read:accounts write:accounts"
FIELDS = {"avatar": "avatar", "banner": "header"}


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Mastodon(Adapter):
    key = "mastodon"
    label = "Mastodon"
    capabilities = Capabilities(
        slots={"avatar": "mastodon_avatar", "banner": "mastodon_header"},
        connect="oauth",
        federated=True,
        revocable=True,
        # Mastodon's own limits (servers may raise the bio's); counted in characters
        text={"display_name": TextLimit(30), "bio": TextLimit(500)},
        pushes_text=True,
        # Profile metadata: 4 pairs by default (MAX_FIELDS), 255 characters per name and value
        link_fields=LinkFields(pairs=4, name_limit=255, value_limit=255),
    )

    # Connecting

    def start_authorization(self, form: dict[str, str], redirect_uri: str) -> Authorization:
        instance = normalize_base_url(form.get("instance_url", ""))
        app = self._app(instance, redirect_uri)
        state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": app.client_id,
                "redirect_uri": redirect_uri,
                "scope": SCOPES,
                "state": state,
                "code_challenge": _challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        pending = {"instance_url": instance, "app_id": app.id, "state": state, "verifier": verifier}
        return Authorization(f"{instance}/oauth/authorize?{query}", pending)

    def finish_authorization(
        self, pending: dict[str, Any], args: dict[str, str], redirect_uri: str
    ) -> Connection:
        instance = pending["instance_url"]
        if args.get("error"):
            raise ConnectFailed(f"{_host(instance)} did not authorize Linkarooie.")
        app = db.session.get(PlatformApp, pending["app_id"])
        if app is None or not args.get("code"):
            raise ConnectFailed("That authorization has expired; please connect again.")
        http = PlatformHttp()
        try:
            response = http.post(
                f"{instance}/oauth/token",
                data={
                    "grant_type": "authorization_code",
                    "code": args["code"],
                    "redirect_uri": redirect_uri,
                    "client_id": app.client_id,
                    "client_secret": app.client_secret,
                    "code_verifier": pending["verifier"],
                    "scope": SCOPES,
                },
            )
            if response.status_code in (400, 401) and "invalid_client" in response.text:
                # Instances before 4.3 garbage-collect unused apps: register again next time.
                db.session.delete(app)
                raise ConnectFailed(f"{_host(instance)} forgot our app registration; try again.")
            if response.status_code != 200 or not json_body(response).get("access_token"):
                raise ConnectFailed(
                    f"{_host(instance)} refused the sign-in: {error_text(response)}"
                )
            token = json_body(response)["access_token"]
            me = http.get(
                f"{instance}/api/v1/accounts/verify_credentials",
                headers={"Authorization": f"Bearer {token}"},
            )
            account = json_body(me)
            if me.status_code != 200 or "id" not in account:
                raise ConnectFailed(f"{_host(instance)} did not tell us who you are.")
            app.limits = self._limits(http, instance)
        except requests.RequestException:
            raise ConnectFailed(f"{_host(instance)} could not be reached; try again.") from None
        finally:
            http.close()
        return Connection(
            remote_id=str(account["id"]),
            handle=f"@{account.get('username') or account.get('acct')}@{_host(instance)}",
            instance_url=instance,
            access_token=token,
            scopes=json_body(response).get("scope") or SCOPES,
        )

    def _app(self, instance: str, redirect_uri: str) -> PlatformApp:
        """Our client on `instance` for this callback URL, registered on first use."""
        app = db.session.scalar(
            select(PlatformApp).filter_by(
                platform=self.key, instance_url=instance, redirect_uri=redirect_uri
            )
        )
        if app is not None:
            return app
        http = PlatformHttp()
        try:
            response = http.post(
                f"{instance}/api/v1/apps",
                data={
                    "client_name": "Linkarooie",
                    "redirect_uris": redirect_uri,
                    "scopes": SCOPES,
                    "website": current_app.config.get("PUBLIC_URL") or "",
                },
            )
        except requests.RequestException:
            raise ConnectFailed(f"{_host(instance)} could not be reached.") from None
        finally:
            http.close()
        body = json_body(response)
        if response.status_code != 200 or not body.get("client_id"):
            raise ConnectFailed(
                f"{_host(instance)} does not look like a Mastodon server "
                f"(registering the app failed: {error_text(response)})."
            )
        app = PlatformApp(
            platform=self.key,
            instance_url=instance,
            redirect_uri=redirect_uri,
            client_id=body["client_id"],
            client_secret=body.get("client_secret"),
            scopes=SCOPES,
        )
        db.session.add(app)
        db.session.flush()
        return app

    def _limits(self, http: PlatformHttp, instance: str) -> dict[str, int]:
        """The instance's published upload limits, where it publishes them."""
        for path in ("/api/v2/instance", "/api/v1/instance"):
            try:
                response = http.get(instance + path)
            except requests.RequestException:
                continue
            if response.status_code == 200:
                media = (json_body(response).get("configuration") or {}).get("media_attachments")
                media = media or {}
                return {
                    key: int(media[key])
                    for key in ("image_size_limit", "image_matrix_limit")
                    if isinstance(media.get(key), int) and media[key] > 0
                }
        return {}

    # Using the account

    def push(self, account: PlatformAccount, slot: str, data: bytes, mime: str) -> Pushed:
        limit = self._instance_limits(account).get("image_size_limit")
        if limit and len(data) > limit:
            raise Permanent(
                f"{_host(account.instance_url)} accepts images up to {limit // 1000} kB; "
                f"this one is {len(data) // 1000} kB."
            )
        field = FIELDS[slot]
        extension = "png" if mime == "image/png" else "jpg"
        response = self._call(
            account,
            "PATCH",
            "/api/v1/accounts/update_credentials",
            files={field: (f"{slot}.{extension}", data, mime)},
        )
        return Pushed(remote_url=json_body(response).get(field))

    def push_profile(self, account: PlatformAccount, text: dict[str, Any]) -> Pushed:
        form: dict[str, str] = {}
        if "display_name" in text:
            form["display_name"] = text["display_name"]
        if "bio" in text:
            form["note"] = text["bio"]  # plain text; Mastodon links it up itself
        # fields_attributes replaces the whole list, so the pairs we send are all there will be
        for i, (name, value) in enumerate(text.get("fields") or []):
            form[f"fields_attributes[{i}][name]"] = name
            form[f"fields_attributes[{i}][value]"] = value
        self._call(
            account, "PATCH", "/api/v1/accounts/update_credentials", data=form, what="the text"
        )
        return Pushed(remote_url=self.profile_url(account))

    def current_image_url(self, account: PlatformAccount, slot: str) -> str | None:
        response = self._call(account, "GET", "/api/v1/accounts/verify_credentials")
        return json_body(response).get(FIELDS[slot])

    def followers(self, account: PlatformAccount) -> int | None:
        response = self._call(account, "GET", "/api/v1/accounts/verify_credentials")
        return whole_count(json_body(response).get("followers_count"))

    def revoke(self, account: PlatformAccount) -> None:
        app = db.session.scalar(
            select(PlatformApp).filter_by(platform=self.key, instance_url=account.instance_url)
        )
        if app is None or not account.access_token:
            return
        http = PlatformHttp()
        try:
            http.post(
                f"{account.instance_url}/oauth/revoke",
                data={
                    "client_id": app.client_id,
                    "client_secret": app.client_secret,
                    "token": account.access_token,
                },
            )
        finally:
            http.close()

    def profile_url(self, account: PlatformAccount) -> str | None:
        username = account.handle.lstrip("@").split("@")[0]
        return f"{account.instance_url}/@{username}"

    def _instance_limits(self, account: PlatformAccount) -> dict[str, int]:
        app = db.session.scalar(
            select(PlatformApp).filter_by(platform=self.key, instance_url=account.instance_url)
        )
        return (app.limits if app is not None else None) or {}

    def _call(
        self, account: PlatformAccount, method: str, path: str, what: str = "the image", **kwargs
    ) -> requests.Response:
        http = PlatformHttp()
        try:
            response = http.request(
                method,
                account.instance_url + path,
                headers={"Authorization": f"Bearer {account.access_token}"},
                **kwargs,
            )
        except requests.RequestException as exc:
            raise network_failure(exc) from None
        finally:
            http.close()
        status = response.status_code
        if status == 200:
            return response
        message = error_text(response, "error")
        if status == 401:
            raise ReconnectNeeded(f"Mastodon refused our access: {message}")
        if status == 429:
            reset = reset_from_iso(response.headers.get("X-RateLimit-Reset"))
            raise RetryLater("Mastodon's rate limit was reached.", reset, rate_limited=True)
        if status >= 500 or status == 408:
            raise RetryLater(
                f"Mastodon answered {status}; will try again.",
                retry_after(response.headers.get("Retry-After")),
            )
        raise Permanent(f"Mastodon refused {what}: {message}")


def _host(instance: str) -> str:
    return urlsplit(instance).netloc
