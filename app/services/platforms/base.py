"""The adapter interface every platform implements, and the failure classes the engine acts on.

An adapter turns "put these bytes in this slot of this account" into the platform's API calls and
turns the platform's answer into one of: done, `RetryLater` (network trouble, 5xx, 429 with the
time its limit resets), `ReconnectNeeded` (the token is dead; the account is marked expired) or
`Permanent` (the platform refused the image, with its reason). Capabilities are data, so the
engine and the pages never ask which platform they are dealing with.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import requests

from app.services.exceptions import DomainError

if TYPE_CHECKING:
    from app.models import PlatformAccount


@dataclass(frozen=True)
class TextLimit:
    """How long a profile text field may be on a platform, in the unit the platform counts."""

    limit: int
    unit: Literal["characters", "graphemes"] = "characters"
    # A second cap in UTF-8 bytes where the platform has one (AT Protocol's maxLength)
    max_bytes: int | None = None


@dataclass(frozen=True)
class LinkFields:
    """Name/value pairs on the profile (Mastodon's profile metadata): the website and links go
    there, website first, up to `pairs` of them, each name and value cut to its limit."""

    pairs: int
    name_limit: int
    value_limit: int


class Slot(enum.StrEnum):
    AVATAR = "avatar"
    BANNER = "banner"
    PROFILE = "profile"  # the profile text, pushed by the engine like an image


PROFILE_SLOT = Slot.PROFILE.value


@dataclass(frozen=True)
class Capabilities:
    # slot → the output preset whose file goes there
    slots: dict[str, str]
    # oauth: a round trip through the platform's sign-in; app_password: typed credentials;
    # manual: no API, the person names their account and we prepare the files (platforms/manual.py)
    connect: Literal["oauth", "app_password", "manual"]
    federated: bool = False  # the person names their server (instance or PDS)
    revocable: bool = False  # disconnecting can revoke the token at the platform
    # Profile text fields the platform has (our field name → its limit); empty: none we know of
    text: dict[str, TextLimit] = field(default_factory=dict)
    # Whether the adapter can set those fields itself (`Adapter.push_profile`); platforms
    # whose text we only measure (for the profile page's limits) leave this False.
    pushes_text: bool = False
    # Where the website and links go on platforms that have name/value profile fields
    link_fields: LinkFields | None = None


class PushFailure(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class RetryLater(PushFailure):
    """Try again later: at `retry_at` when the platform said when, else after our back-off.
    `rate_limited`: the platform is pacing us (429), which is a wait, not a failure."""

    def __init__(
        self, message: str, retry_at: datetime | None = None, *, rate_limited: bool = False
    ):
        super().__init__(message)
        self.retry_at = retry_at
        self.rate_limited = rate_limited


class ReconnectNeeded(PushFailure):
    """The platform no longer accepts our credentials."""


class Permanent(PushFailure):
    """The platform refused this request for a reason retrying will not change."""


class ConnectFailed(DomainError):
    """Connecting an account failed for a reason the person can act on (shown on the page)."""

    status = 400
    code = "connect_failed"


@dataclass
class Connection:
    """What connecting an account yields; stored (encrypted where secret) on PlatformAccount."""

    remote_id: str
    handle: str
    instance_url: str = ""
    access_token: str | None = None
    refresh_token: str | None = None
    secret: str | None = None
    expires_at: datetime | None = None
    scopes: str = ""


@dataclass
class ChooseAccounts:
    """A sign-in that covers several accounts (a person's Facebook Pages): they pick which to
    connect. `options` are (remote id, label); `pending` is kept, encrypted, until they choose."""

    options: list[tuple[str, str]]
    pending: dict[str, Any] = field(default_factory=dict)


@dataclass
class Pushed:
    remote_url: str | None = None


@dataclass
class Authorization:
    """Where to send the person, and what to remember until they come back."""

    url: str
    pending: dict[str, Any] = field(default_factory=dict)


class Platform:
    """What every platform has, whether we push to it or prepare the files for the person."""

    key: ClassVar[str]
    label: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    # Tokens that expire and can be renewed without the person (a refresh token): the periodic
    # refresh job renews them ahead of expiry with `Adapter.refresh`.
    refreshable: ClassVar[bool] = False
    # Whether we can read back what the account shows now (`Adapter.current_image_url` and the
    # file behind it): the drift watch only watches platforms that let us.
    readable: ClassVar[bool] = False

    @property
    def is_manual(self) -> bool:
        return self.capabilities.connect == "manual"

    def is_configured(self) -> bool:
        """Whether this site has what the platform needs (say, an app's key); if not, the
        platform is listed but cannot be connected."""
        return True

    def profile_url(self, account: PlatformAccount) -> str | None:
        return None

    def followers(self, account: PlatformAccount) -> int | None:
        """How many follow the account now (reach), where the platform tells us; None where it
        does not. May raise the PushFailure classes, like any call to the platform."""
        return None

    def revoke(self, account: PlatformAccount) -> None:
        """Give the token back where the platform allows it; errors are the caller's to ignore."""
        return None  # platforms without a revocation endpoint forget the token on our side only

    def connect(self, form: dict[str, str]) -> Connection:
        """Connect from typed fields (an app password, or the handle of a manual platform)."""
        raise NotImplementedError


class Adapter(Platform, ABC):
    """A platform with an API: we push the files ourselves."""

    # The platform names stored images by their content (Bluesky's blob CIDs): whether a slot
    # holds our bytes can be read off the slot itself (`shows`), with no "before" to compare.
    content_addressed: ClassVar[bool] = False
    readable: ClassVar[bool] = True

    @abstractmethod
    def push(self, account: PlatformAccount, slot: str, data: bytes, mime: str) -> Pushed: ...

    @abstractmethod
    def current_image_url(self, account: PlatformAccount, slot: str) -> str | None:
        """What the platform shows in `slot` now (to tell, after a crash, whether a push landed)."""

    def push_profile(self, account: PlatformAccount, text: dict[str, Any]) -> Pushed:
        """Set the profile text `fitting.fit` made for this platform (adapters whose
        capabilities say `pushes_text` only). Only the fields in `text` change."""
        raise NotImplementedError

    # The methods below belong to one kind of adapter each (content-addressed, refreshable,
    # OAuth); `content_addressed`, `refreshable` and `capabilities.connect` say which.

    def shows(self, account: PlatformAccount, slot: str, data: bytes) -> bool:
        """Whether `slot` holds exactly `data` now (content-addressed platforms only)."""
        raise NotImplementedError

    def refresh(self, account: PlatformAccount) -> None:
        """Renew the account's tokens in place (refreshable adapters only). Raises
        ReconnectNeeded when the platform refuses the refresh, RetryLater when it is unreachable."""
        raise NotImplementedError

    # OAuth adapters
    def start_authorization(self, form: dict[str, str], redirect_uri: str) -> Authorization:
        raise NotImplementedError

    def finish_authorization(
        self, pending: dict[str, Any], args: dict[str, str], redirect_uri: str
    ) -> Connection | ChooseAccounts:
        raise NotImplementedError

    def finish_choice(self, pending: dict[str, Any], chosen: list[str]) -> list[Connection]:
        """After ChooseAccounts: the connections for the remote ids the person picked."""
        raise NotImplementedError


def whole_count(value: Any) -> int | None:
    """A count from a platform's JSON, or None when it is missing or not a count."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def network_failure(exc: requests.RequestException) -> RetryLater:
    kind = "timed out" if isinstance(exc, requests.Timeout) else "could not be reached"
    return RetryLater(f"The platform {kind}; will try again.")


def after(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def reset_from_iso(value: str | None) -> datetime | None:
    """Mastodon's X-RateLimit-Reset: an ISO 8601 time."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def reset_from_epoch(value: str | None) -> datetime | None:
    """Bluesky's RateLimit-Reset and X's x-rate-limit-reset: Unix seconds."""
    try:
        return datetime.fromtimestamp(float(value), UTC) if value else None
    except (ValueError, OverflowError, OSError):
        return None


def retry_after(value: str | None) -> datetime | None:
    """A standard Retry-After header in seconds."""
    try:
        return after(float(value)) if value else None
    except ValueError:
        return None


def error_text(response: requests.Response, *keys: str) -> str:
    """The platform's own message from a JSON error body, else the HTTP status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for key in keys or ("error_description", "message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:500]
    return f"HTTP {response.status_code}"


def json_body(response: requests.Response) -> dict[str, Any]:
    """The response's JSON object, or {} for anything else (HTML error pages, lists, nothing)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
