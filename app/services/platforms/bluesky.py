"""Bluesky (AT Protocol) with an app password: find the PDS, keep a session, rewrite the profile.

platforms.md §6. The person gives their handle (or DID) and an app password, and optionally their
PDS address. Without one we resolve handle → DID (DNS TXT `_atproto.<handle>`, then
`https://<handle>/.well-known/atproto-did`) and DID → PDS (the DID document's `#atproto_pds`
service). `createSession` runs once at connect time (it is tightly rate-limited); afterwards the
access JWT is refreshed with `refreshSession`, and only if that fails is the stored app password
used again. A push uploads the blob, reads `app.bsky.actor.profile/self` and writes it back with
`swapRecord`, so the display name, description and every other field survive.

Over 300 lines on purpose: finding the PDS, keeping the session and writing the record are
one platform's protocol, and the registry's rule is one module per platform.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import dns.exception
import dns.resolver
import requests
from flask import current_app

from app.infra.http import PlatformHttp, UnsafeUrl, normalize_base_url
from app.models import PlatformAccount
from app.services.platforms.base import (
    Adapter,
    Capabilities,
    ConnectFailed,
    Connection,
    Permanent,
    Pushed,
    ReconnectNeeded,
    RetryLater,
    TextLimit,
    error_text,
    json_body,
    network_failure,
    reset_from_epoch,
    retry_after,
    whole_count,
)

PROFILE = "app.bsky.actor.profile"
FIELDS = {"avatar": "avatar", "banner": "banner"}
TEXT_FIELDS = {"display_name": "displayName", "bio": "description"}
AUTH_ERRORS = {"InvalidToken", "AuthenticationRequired", "AccountTakedown", "AccountDeactivated"}
SWAP_ATTEMPTS = 3


class Bluesky(Adapter):
    key = "bluesky"
    label = "Bluesky"
    content_addressed = True
    refreshable = True
    capabilities = Capabilities(
        slots={"avatar": "bluesky_avatar", "banner": "bluesky_banner"},
        connect="app_password",
        federated=True,
        revocable=True,
        # The profile lexicon counts graphemes (displayName 64, description 256), and caps the
        # UTF-8 bytes too (640 and 2560)
        text={
            "display_name": TextLimit(64, "graphemes", max_bytes=640),
            "bio": TextLimit(256, "graphemes", max_bytes=2560),
        },
        pushes_text=True,
    )

    # Connecting

    def connect(self, form: dict[str, str]) -> Connection:
        identifier = (form.get("handle") or "").strip().lstrip("@")
        password = (form.get("app_password") or "").strip()
        if not identifier or not password:
            raise ConnectFailed("Enter your Bluesky handle and an app password.")
        http = PlatformHttp()
        try:
            if (form.get("service_url") or "").strip():
                pds = normalize_base_url(form["service_url"])
            else:
                pds = self._find_pds(http, identifier)
            response = http.post(
                f"{pds}/xrpc/com.atproto.server.createSession",
                json={"identifier": identifier, "password": password},
            )
        except requests.RequestException:
            raise ConnectFailed("Your Bluesky server could not be reached; try again.") from None
        finally:
            http.close()
        session = json_body(response)
        if response.status_code == 429:
            raise ConnectFailed("Bluesky has seen too many sign-ins for this account; wait a bit.")
        if response.status_code != 200 or not session.get("accessJwt"):
            raise ConnectFailed(
                f"Bluesky refused that handle and app password ({error_text(response)})."
            )
        return Connection(
            remote_id=session["did"],
            handle="@" + session.get("handle", identifier),
            instance_url=pds,
            access_token=session["accessJwt"],
            refresh_token=session.get("refreshJwt"),
            secret=password,
            expires_at=_expiry(session["accessJwt"]),
        )

    def _find_pds(self, http: PlatformHttp, identifier: str) -> str:
        did = (
            identifier if identifier.startswith("did:") else self._resolve_handle(http, identifier)
        )
        document = self._did_document(http, did)
        for service in document.get("service") or []:
            if isinstance(service, dict) and str(service.get("id", "")).endswith("#atproto_pds"):
                return normalize_base_url(str(service.get("serviceEndpoint", "")))
        raise ConnectFailed(f"{did} names no Bluesky server; enter your PDS address.")

    def _resolve_handle(self, http: PlatformHttp, handle: str) -> str:
        try:
            answers = dns.resolver.resolve(f"_atproto.{handle}", "TXT", lifetime=5)
            for answer in answers:
                text = b"".join(answer.strings).decode(errors="replace")
                if text.startswith("did="):
                    return text[4:]
        except (dns.exception.DNSException, UnicodeError, ValueError):
            pass  # no TXT record: try the well-known file
        try:
            url = normalize_base_url(handle) + "/.well-known/atproto-did"
            response = http.get(url)
            did = response.text.strip() if response.status_code == 200 else ""
        except (requests.RequestException, UnsafeUrl):
            did = ""
        if not did.startswith("did:"):
            raise ConnectFailed(
                f"Could not find the Bluesky account {handle}; check the handle, "
                "or enter your PDS address."
            )
        return did

    def _did_document(self, http: PlatformHttp, did: str) -> dict[str, Any]:
        if did.startswith("did:plc:"):
            url = f"{current_app.config['BLUESKY_PLC_URL'].rstrip('/')}/{quote(did)}"
        elif did.startswith("did:web:"):
            url = normalize_base_url(did[len("did:web:") :]) + "/.well-known/did.json"
        else:
            raise ConnectFailed(f"{did} is not a DID we can resolve.")
        try:
            response = http.get(url)
        except requests.RequestException:
            raise ConnectFailed("The DID directory could not be reached; try again.") from None
        if response.status_code != 200:
            raise ConnectFailed(f"{did} could not be resolved ({error_text(response)}).")
        return json_body(response)

    # Using the account

    def push(self, account: PlatformAccount, slot: str, data: bytes, mime: str) -> Pushed:
        http = PlatformHttp()
        try:
            blob = self._xrpc(
                http,
                account,
                "POST",
                "com.atproto.repo.uploadBlob",
                data=data,
                headers={"Content-Type": mime},
            )["blob"]
            self._rewrite(http, account, {FIELDS[slot]: blob})
            return Pushed(remote_url=self._blob_url(account, blob))
        finally:
            http.close()

    def push_profile(self, account: PlatformAccount, text: dict[str, Any]) -> Pushed:
        changes = {TEXT_FIELDS[name]: value for name, value in text.items() if name in TEXT_FIELDS}
        http = PlatformHttp()
        try:
            self._rewrite(http, account, changes)
        finally:
            http.close()
        return Pushed(remote_url=self.profile_url(account))

    def _rewrite(self, http: PlatformHttp, account: PlatformAccount, changes: dict) -> None:
        """Read the profile record, change `changes` in it and write it back only if nobody
        changed it meanwhile (swapRecord): every other field survives."""
        for _ in range(SWAP_ATTEMPTS):
            current = self._profile(http, account)
            record = {**(current.get("value") or {}), "$type": PROFILE, **changes}
            answer = self._xrpc(
                http,
                account,
                "POST",
                "com.atproto.repo.putRecord",
                json={
                    "repo": account.remote_id,
                    "collection": PROFILE,
                    "rkey": "self",
                    "record": record,
                    "swapRecord": current.get("cid"),
                },
                swap_conflict_ok=True,
            )
            if answer is not None:
                return
        raise RetryLater("The Bluesky profile kept changing while we wrote it.")

    def current_image_url(self, account: PlatformAccount, slot: str) -> str | None:
        http = PlatformHttp()
        try:
            value = self._profile(http, account).get("value") or {}
        finally:
            http.close()
        blob = value.get(FIELDS[slot])
        return self._blob_url(account, blob) if isinstance(blob, dict) else None

    def shows(self, account: PlatformAccount, slot: str, data: bytes) -> bool:
        http = PlatformHttp()
        try:
            value = self._profile(http, account).get("value") or {}
        finally:
            http.close()
        blob = value.get(FIELDS[slot])
        ref = (blob.get("ref") or {}).get("$link") if isinstance(blob, dict) else None
        return ref == blob_cid(data)

    def followers(self, account: PlatformAccount) -> int | None:
        # An AppView view: the PDS answers it by proxying to the AppView it is set up with
        # (api.bsky.app for bsky.social); a PDS without one refuses, and reach is not recorded.
        http = PlatformHttp()
        try:
            profile = self._xrpc(
                http, account, "GET", "app.bsky.actor.getProfile",
                params={"actor": account.remote_id},
            )  # fmt: skip
        finally:
            http.close()
        return whole_count((profile or {}).get("followersCount"))

    def refresh(self, account: PlatformAccount) -> None:
        http = PlatformHttp()
        try:
            self._refresh(http, account)
        finally:
            http.close()

    def revoke(self, account: PlatformAccount) -> None:
        if not account.refresh_token:
            return
        http = PlatformHttp()
        try:
            http.post(
                f"{account.instance_url}/xrpc/com.atproto.server.deleteSession",
                headers={"Authorization": f"Bearer {account.refresh_token}"},
            )
        finally:
            http.close()

    def profile_url(self, account: PlatformAccount) -> str | None:
        return f"https://bsky.app/profile/{account.remote_id}"

    def _blob_url(self, account: PlatformAccount, blob: dict[str, Any]) -> str | None:
        cid = (blob.get("ref") or {}).get("$link")
        if not cid:
            return None
        return (
            f"{account.instance_url}/xrpc/com.atproto.sync.getBlob"
            f"?did={quote(account.remote_id)}&cid={quote(cid)}"
        )

    def _profile(self, http: PlatformHttp, account: PlatformAccount) -> dict[str, Any]:
        """{"cid", "value"} of the profile record, or {} when there is none yet."""
        params = {"repo": account.remote_id, "collection": PROFILE, "rkey": "self"}
        return (
            self._xrpc(
                http, account, "GET", "com.atproto.repo.getRecord", params=params, missing_ok=True
            )
            or {}
        )

    def _xrpc(
        self,
        http: PlatformHttp,
        account: PlatformAccount,
        method: str,
        nsid: str,
        *,
        missing_ok: bool = False,
        swap_conflict_ok: bool = False,
        **kwargs,
    ) -> dict[str, Any] | None:
        if account.expires_at and account.expires_at - timedelta(minutes=1) < datetime.now(UTC):
            self._refresh(http, account)
        for attempt in range(2):
            headers = {
                **kwargs.pop("headers", {}),
                "Authorization": f"Bearer {account.access_token}",
            }
            try:
                response = http.request(
                    method, f"{account.instance_url}/xrpc/{nsid}", headers=headers, **kwargs
                )
            except requests.RequestException as exc:
                raise network_failure(exc) from None
            kwargs["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
            if response.status_code == 200:
                return json_body(response)
            name = json_body(response).get("error", "")
            if name == "ExpiredToken" or (name in AUTH_ERRORS and attempt == 0):
                self._refresh(http, account)
                continue
            if missing_ok and name == "RecordNotFound":
                return None
            if swap_conflict_ok and name == "InvalidSwap":
                return None
            raise _failure(response, name)
        raise ReconnectNeeded("Bluesky no longer accepts our session; please reconnect.")

    def _refresh(self, http: PlatformHttp, account: PlatformAccount) -> None:
        """A new token pair (refresh tokens rotate), or a new session from the app password."""
        try:
            response = http.post(
                f"{account.instance_url}/xrpc/com.atproto.server.refreshSession",
                headers={"Authorization": f"Bearer {account.refresh_token}"},
            )
            if response.status_code != 200 and account.secret:
                response = http.post(
                    f"{account.instance_url}/xrpc/com.atproto.server.createSession",
                    json={"identifier": account.remote_id, "password": account.secret},
                )
        except requests.RequestException as exc:
            raise network_failure(exc) from None
        session = json_body(response)
        if response.status_code == 200 and session.get("accessJwt"):
            account.access_token = session["accessJwt"]
            account.refresh_token = session.get("refreshJwt") or account.refresh_token
            account.expires_at = _expiry(session["accessJwt"])
            return
        if response.status_code == 429 or response.status_code >= 500:
            raise _failure(response, session.get("error", ""))
        raise ReconnectNeeded(
            f"Bluesky no longer accepts this app password ({error_text(response)}); reconnect."
        )


def _failure(response: requests.Response, name: str) -> Exception:
    status = response.status_code
    message = error_text(response, "message", "error")
    if status == 429:
        return RetryLater(
            "Bluesky's rate limit was reached.",
            reset_from_epoch(response.headers.get("RateLimit-Reset"))
            or retry_after(response.headers.get("Retry-After")),
            rate_limited=True,
        )
    if status >= 500 or status == 408:
        return RetryLater(
            f"Bluesky answered {status}; will try again.",
            retry_after(response.headers.get("Retry-After")),
        )
    if status == 401 or name in AUTH_ERRORS:
        return ReconnectNeeded(f"Bluesky refused our session: {message}")
    return Permanent(f"Bluesky refused the update: {message}")


def blob_cid(data: bytes) -> str:
    """The CID a PDS gives these bytes as a blob: CIDv1, raw codec, sha2-256, base32."""
    digest = hashlib.sha256(data).digest()
    binary = bytes([0x01, 0x55, 0x12, 0x20]) + digest  # version, raw, sha2-256, 32 bytes
    return "b" + base64.b32encode(binary).decode().lower().rstrip("=")


def _expiry(jwt: str) -> datetime | None:
    """The `exp` of an access JWT (read, not verified: the PDS verifies it, we only schedule)."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (IndexError, ValueError, KeyError, TypeError):
        return None
