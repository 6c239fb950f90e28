"""Reading and changing a profile, with every rule checked before anything is written."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import HandleRedirect, Profile, User
from app.services.exceptions import DomainError
from app.services.profiles.public import FIELDS as PAGE_FIELDS

# What update() accepts; the JSON API offers all but `indexable` and `shown_fields`.
FIELDS = (
    "handle",
    "display_name",
    "bio",
    "website",
    "location",
    "links",
    "public",
    "indexable",
    "shown_fields",
)
HANDLE_PATTERN = re.compile(r"[A-Za-z0-9_]{3,30}")
# A handle given up stays with its former owner this long, so old links keep working and nobody
# can pose as them in the meantime.
HANDLE_HOLD = timedelta(days=30)
# Handles that would read as the site's own pages or staff (compared lower-cased).
RESERVED_HANDLES = frozenset(
    {
        "about", "account", "accounts", "admin", "administrator", "api", "app", "assets",
        "auth", "avatar", "banner", "billing", "blog", "connections", "contact", "dashboard",
        "docs", "download", "downloads", "explore", "favicon", "feed", "health", "healthz",
        "help", "history", "home", "images", "index", "legal", "linkarooie", "login", "logout",
        "mail", "media", "metrics", "moderator", "new", "null", "oauth", "official", "privacy",
        "profile", "profiles", "public", "readyz", "register", "root", "security", "settings",
        "sign-in", "sign-out", "sign-up", "sign_in", "sign_out", "sign_up", "signin", "signout",
        "signup", "staff", "static", "status", "support", "sync", "system", "terms", "undefined",
        "user", "users", "webmaster", "www",
    }
)  # fmt: skip
TEXT_LIMITS = {"display_name": 100, "bio": 2000, "location": 100}
URL_LIMIT = 500
MAX_LINKS = 20
LABEL_LIMIT = 50


class ProfileInvalid(DomainError):
    """One or more fields were refused; `fields` maps each field to what is wrong with it."""

    status = 422
    code = "invalid_profile"

    def __init__(self, fields: dict[str, str]):
        names = ", ".join(sorted(fields))
        super().__init__(f"Some fields could not be used: {names}.")
        self.fields = fields


def utcnow() -> datetime:
    return datetime.now(UTC)


def get_or_create(user: User) -> Profile:
    profile = db.session.get(Profile, user.id)
    if profile is None:
        profile = Profile(
            user_id=user.id,
            display_name=(user.name or "")[: TEXT_LIMITS["display_name"]],
            bio="",
            website="",
            location="",
            links=[],
            public=False,
            shown_fields={},
            indexable=True,
        )
        db.session.add(profile)
        db.session.flush()
    return profile


def update(user: User, changes: dict[str, Any]) -> Profile:
    """Apply `changes` (any subset of FIELDS) all at once, or raise ProfileInvalid and change
    nothing."""
    profile = get_or_create(user)
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in FIELDS:
            errors[str(name)] = "Not a profile field."
            continue
        try:
            clean[name] = CLEANERS[name](value)
        except ValueError as exc:
            errors[name] = str(exc)
    if "handle" in clean and not errors.get("handle"):
        problem = _handle_unavailable(user, clean["handle"])
        if problem:
            errors["handle"] = problem
    if errors:
        raise ProfileInvalid(errors)

    try:
        # A savepoint, so losing a race for the same handle is a field error, not a dead session.
        with db.session.begin_nested():
            if "handle" in clean:
                _move_handle(profile, clean.pop("handle"))
            for name, value in clean.items():
                setattr(profile, name, value)
    except IntegrityError:
        raise ProfileInvalid({"handle": "That handle is taken."}) from None
    return profile


def _text(name: str):
    def clean(value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ValueError("Must be text.")
        value = value.strip()
        if len(value) > TEXT_LIMITS[name]:
            raise ValueError(f"At most {TEXT_LIMITS[name]} characters (this is {len(value)}).")
        return value

    return clean


def _clean_handle(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("Must be text.")
    value = value.strip().removeprefix("@")
    if not value:
        return None  # no handle: no public page address
    if not HANDLE_PATTERN.fullmatch(value):
        raise ValueError("3 to 30 letters, digits or underscores.")
    if value.lower() in RESERVED_HANDLES:
        raise ValueError("That handle is reserved.")
    return value


def _http_url(value: Any, *, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValueError("Must be text.")
    value = value.strip()
    if not value:
        if required:
            raise ValueError("Enter a URL.")
        return ""
    if len(value) > URL_LIMIT:
        raise ValueError(f"At most {URL_LIMIT} characters.")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        raise ValueError("Not a valid URL.") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("Must be an http:// or https:// address.")
    if any(ch.isspace() or ord(ch) < 32 for ch in value):
        raise ValueError("A URL cannot contain spaces.")
    return value


def _clean_website(value: Any) -> str:
    return _http_url(value, required=False)


def _clean_links(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise ValueError('Must be a list of {"label", "url"} objects.')
    if len(value) > MAX_LINKS:
        raise ValueError(f"At most {MAX_LINKS} links.")
    links = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, dict) or set(item) != {"label", "url"}:
            raise ValueError(f'Link {number}: must be an object with "label" and "url" only.')
        label = item["label"]
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"Link {number}: give it a label.")
        label = label.strip()
        if len(label) > LABEL_LIMIT:
            raise ValueError(f"Link {number}: the label can be at most {LABEL_LIMIT} characters.")
        try:
            url = _http_url(item["url"], required=True)
        except ValueError as exc:
            raise ValueError(f"Link {number}: {exc}") from None
        links.append({"label": label, "url": url})
    return links


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("Must be true or false.")
    return value


def _clean_shown(value: Any) -> dict[str, bool]:
    if not isinstance(value, dict):
        raise ValueError("Must map page fields to true or false.")
    if unknown := sorted(set(map(str, value)) - set(PAGE_FIELDS)):
        raise ValueError(f"The page has no field {unknown[0]!r}.")
    if any(not isinstance(shown, bool) for shown in value.values()):
        raise ValueError("Each field is shown (true) or hidden (false).")
    # Only the hidden ones are kept: a field added to the page later is shown by default.
    return {name: False for name, shown in value.items() if not shown}


CLEANERS = {
    "handle": _clean_handle,
    "display_name": _text("display_name"),
    "bio": _text("bio"),
    "location": _text("location"),
    "website": _clean_website,
    "links": _clean_links,
    "public": _flag,
    "indexable": _flag,
    "shown_fields": _clean_shown,
}


def _handle_unavailable(user: User, handle: str | None) -> str | None:
    if handle is None:
        return None
    key = handle.lower()
    owner = db.session.scalar(select(Profile.user_id).where(Profile.handle_key == key))
    if owner is not None and owner != user.id:
        return "That handle is taken."
    held = db.session.get(HandleRedirect, key)
    if held is not None and held.user_id != user.id and held.expires_at > utcnow():
        return "That handle was given up recently and is held for its owner; try another."
    return None


def _move_handle(profile: Profile, handle: str | None) -> None:
    new_key = handle.lower() if handle else None
    old_key = profile.handle_key
    if new_key is not None:
        # Taking back one's own old handle ends its redirect; an expired hold of someone else's
        # is simply gone.
        stale = db.session.get(HandleRedirect, new_key)
        if stale is not None:
            db.session.delete(stale)
            db.session.flush()
    if old_key and old_key != new_key:
        held = db.session.get(HandleRedirect, old_key)
        if held is None:
            held = HandleRedirect(handle_key=old_key)
            db.session.add(held)
        held.user_id = profile.user_id
        held.expires_at = utcnow() + HANDLE_HOLD
    profile.handle = handle
    profile.handle_key = new_key


def add_link(user: User, label: Any, url: Any) -> Profile:
    """Append a link; a refusal names the form's own fields (`label`, `url`)."""
    profile = get_or_create(user)
    errors = {}
    if not isinstance(label, str) or not label.strip():
        errors["label"] = "Give the link a label."
    elif len(label.strip()) > LABEL_LIMIT:
        errors["label"] = f"At most {LABEL_LIMIT} characters."
    try:
        url = _http_url(url, required=True)
    except ValueError as exc:
        errors["url"] = str(exc)
    if len(profile.links or []) >= MAX_LINKS:
        errors["links"] = f"At most {MAX_LINKS} links; remove one first."
    if errors:
        raise ProfileInvalid(errors)
    return update(user, {"links": [*(profile.links or []), {"label": label.strip(), "url": url}]})


def remove_link(user: User, index: int) -> Profile:
    links = list(get_or_create(user).links or [])
    _check_index(links, index)
    del links[index]
    return update(user, {"links": links})


def move_link(user: User, index: int, offset: int) -> Profile:
    """Move the link at `index` by `offset` places (-1 up, +1 down); at an end it stays."""
    links = list(get_or_create(user).links or [])
    _check_index(links, index)
    target = min(max(index + offset, 0), len(links) - 1)
    links.insert(target, links.pop(index))
    return update(user, {"links": links})


def _check_index(links: list, index: int) -> None:
    if not 0 <= index < len(links):
        raise ProfileInvalid({"links": "That link is no longer there; reload the page."})
