"""One readable sentence per event, and where it points: shared by the in-app list and mail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.models import Event


@dataclass(frozen=True)
class Described:
    sentence: str
    endpoint: str | None = None  # where the notice links to (url_for endpoint and values)
    values: dict[str, Any] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)  # e.g. each failed step and why


def _platform(data: dict) -> str:
    from app.services import platforms
    from app.services.exceptions import DomainError

    key = data.get("platform") or ""
    try:
        return platforms.get(key).label
    except DomainError:
        return key or "a platform"


def _account(data: dict) -> str:
    handle = data.get("handle")
    return f"{_platform(data)} ({handle})" if handle else _platform(data)


def _release(data: dict) -> tuple[str, dict]:
    release_id = data.get("release_id")
    return ("sync.show", {"request_id": release_id}) if isinstance(release_id, int) else ("", {})


def describe(event: Event) -> Described:
    data = event.data or {}
    kind = event.type
    if kind == "release.completed":
        endpoint, values = _release(data)
        total = data.get("total", 0)
        steps = "1 step" if total == 1 else f"{total} steps"
        return Described(f"Your release finished: all {steps} went well.", endpoint, values)
    if kind == "release.failed":
        endpoint, values = _release(data)
        failed = data.get("failed") or []
        details = [
            f"{_account(step)}, {step.get('slot', 'picture')}: {step.get('error') or 'failed'}"
            for step in failed
        ]
        sentence = (
            f"Your release finished, but {len(failed)} of {data.get('total', 0)} steps failed."
        )
        return Described(sentence, endpoint, values, details)
    if kind == "connection.expired":
        return Described(
            f"Your {_account(data)} connection stopped working: reconnect it to keep syncing.",
            "connections.index",
        )
    if kind == "connection.expiring":
        day = (data.get("expires_at") or "")[:10]
        return Described(
            f"Your {_account(data)} connection expires on {day}: reconnect it before then.",
            "connections.index",
        )
    if kind == "drift.detected":
        slot = data.get("slot", "picture")
        return Described(
            f"The {slot} on {_account(data)} was changed outside Linkarooie.",
            "connections.index",
        )
    if kind == "schedule.ran":
        if data.get("error"):
            return Described(
                f"Your scheduled look could not go out: {data['error']}", "sync.schedules_page"
            )
        endpoint, values = _release(data)
        return Described("Your scheduled look went out.", endpoint or "sync.schedules_page", values)
    if kind == "export.ready":
        export_id = data.get("export_id")
        day = (data.get("expires_at") or "")[:10]
        until = f" until {day}" if day else ""
        if not isinstance(export_id, int):
            return Described(f"Your data export is ready to download{until}.", "account_data.index")
        return Described(
            f"Your data export is ready: download it{until} (signed in as you).",
            "account_data.download",
            {"export_id": export_id},
        )
    if kind == "image.ready":
        return Described(f"Your {data.get('kind', 'picture')} is ready to use.", "images.index")
    return _security(kind, data)


_SECURITY = {
    "security.password_changed": "Your password was changed.",
    "security.email_changed": "Your account's email address was changed.",
    "security.identity_linked": "A sign-in method ({provider}) was linked to your account.",
    "security.identity_unlinked": "A sign-in method ({provider}) was unlinked from your account.",
    "security.api_token_created": "A new API token ({name}) was created.",
    "security.new_device_sign_in": (
        "Someone signed in to your account from a new device ({device})."
    ),
}


def _security(kind: str, data: dict) -> Described:
    template = _SECURITY.get(kind)
    if template is None:
        return Described(kind.replace(".", ": ").replace("_", " "))
    values = {key: str(data.get(key) or "unknown") for key in ("provider", "name", "device")}
    sentence = template.format(**values)
    return Described(sentence + " If this was not you, change your password now.", "auth.settings")
