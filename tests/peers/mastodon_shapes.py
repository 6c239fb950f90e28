"""The JSON FakeMastodon answers with, shaped like docs.joinmastodon.org: the instance documents
(methods/instance.md, v1 deprecated and v2, with Mastodon 4.3's default limits), the
CredentialAccount, Paperclip's validation messages and the bodies of faults."""

from __future__ import annotations

from html import escape
from typing import Any

from flask import Response, jsonify

from tests.peers.platform_faults import sniff_image

VERSION = "4.3.0"
IMAGE_MIME_TYPES = [
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/heic",
    "image/heif",
    "image/webp",
    "image/avif",
]
VIDEO_MIME_TYPES = ["video/webm", "video/mp4", "video/quicktime", "video/ogg"]
AUDIO_MIME_TYPES = [
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-pn-wave",
    "audio/vnd.wave",
    "audio/ogg",
    "audio/vorbis",
    "audio/mpeg",
    "audio/mp3",
    "audio/webm",
    "audio/flac",
    "audio/aac",
    "audio/m4a",
    "audio/x-m4a",
    "audio/mp4",
    "audio/3gpp",
    "video/x-ms-asf",
]


def _media(fake: Any) -> dict[str, Any]:
    return {
        "supported_mime_types": IMAGE_MIME_TYPES + VIDEO_MIME_TYPES + AUDIO_MIME_TYPES,
        "description_limit": 1500,
        "image_size_limit": fake.image_size_limit,
        "image_matrix_limit": 33_177_600,  # 7680x4320
        "video_size_limit": 103_809_024,
        "video_frame_rate_limit": 120,
        "video_matrix_limit": 8_294_400,  # 3840x2160
    }


STATUSES = {"max_characters": 500, "max_media_attachments": 4, "characters_reserved_per_url": 23}
POLLS = {
    "max_options": 4,
    "max_characters_per_option": 50,
    "min_expiration": 300,
    "max_expiration": 2_629_746,
}


def instance_v2(fake: Any) -> dict[str, Any]:
    host = fake.url.split("://", 1)[1]
    return {
        "domain": host,
        "title": "Loopback Mastodon",
        "version": VERSION,
        "source_url": "https://github.com/mastodon/mastodon",
        "description": "A fake instance for Linkarooie's tests.",
        "usage": {"users": {"active_month": len(fake.accounts)}},
        "thumbnail": {"url": f"{fake.url}/packs/media/images/preview.png"},
        "languages": ["en"],
        "configuration": {
            "urls": {"streaming": f"ws://{host}", "status": None},
            "vapid": {"public_key": "BFakeVapidKey"},
            "accounts": {"max_featured_tags": 10, "max_pinned_statuses": 5},
            "statuses": STATUSES,
            "media_attachments": _media(fake),
            "polls": POLLS,
            "translation": {"enabled": False},
        },
        "registrations": {"enabled": False, "approval_required": False, "message": None},
        "api_versions": {"mastodon": 2},
        "contact": {"email": f"admin@{host}", "account": None},
        "rules": [],
    }


def instance_v1(fake: Any) -> dict[str, Any]:
    host = fake.url.split("://", 1)[1]
    return {
        "uri": host,
        "title": "Loopback Mastodon",
        "short_description": "A fake instance for Linkarooie's tests.",
        "description": "",
        "email": f"admin@{host}",
        "version": VERSION,
        "urls": {"streaming_api": f"ws://{host}"},
        "stats": {"user_count": len(fake.accounts), "status_count": 0, "domain_count": 0},
        "thumbnail": f"{fake.url}/packs/media/images/preview.png",
        "languages": ["en"],
        "registrations": False,
        "approval_required": False,
        "invites_enabled": False,
        "configuration": {
            "accounts": {"max_featured_tags": 10},
            "statuses": STATUSES,
            "media_attachments": _media(fake),
            "polls": POLLS,
        },
        "contact_account": None,
        "rules": [],
    }


def _linked(value: str) -> str:
    """A field value as Mastodon renders it: URLs become links, the rest is escaped text."""
    if value.startswith(("http://", "https://")) and " " not in value:
        shown = escape(value.split("://", 1)[1])
        return f'<a href="{escape(value)}" target="_blank" rel="nofollow noopener me">{shown}</a>'
    return escape(value)


def account_json(fake: Any, account: Any) -> dict[str, Any]:
    """A CredentialAccount (methods/accounts.md, entities/Account.md)."""
    urls = {}
    for slot in ("avatar", "header"):
        stored = account.files.get(slot)
        path = stored[0] if stored else f"/{slot}s/original/missing.png"
        urls[slot] = urls[f"{slot}_static"] = fake.url + path  # no animation: static = original
    return {
        "id": account.id,
        "username": account.username,
        "acct": account.username,  # local account: no @domain
        "display_name": account.display_name,
        "locked": False,
        "bot": False,
        "discoverable": True,
        "indexable": False,
        "group": False,
        "created_at": account.created_at,
        "note": f"<p>{escape(account.note)}</p>" if account.note else "",  # HTML; source is plain
        "url": f"{fake.url}/@{account.username}",
        "uri": f"{fake.url}/users/{account.username}",
        **urls,
        "followers_count": account.followers,
        "following_count": 0,
        "statuses_count": 0,
        "last_status_at": None,
        "hide_collections": False,
        "noindex": False,
        "emojis": [],
        "roles": [],
        "fields": [
            {"name": escape(name), "value": _linked(value), "verified_at": None}
            for name, value in account.fields
        ],
        "source": {
            "privacy": "public",
            "sensitive": False,
            "language": None,
            "note": account.note,
            "fields": [
                {"name": name, "value": value, "verified_at": None}
                for name, value in account.fields
            ],
            "follow_requests_count": 0,
            "hide_collections": False,
            "discoverable": True,
            "indexable": False,
            "attribution_domains": [],
        },
        "role": {"id": "-99", "name": "", "permissions": "0", "color": "", "highlighted": False},
    }


def human_size(limit: int) -> str:
    """Rails' number_to_human_size, as in "Avatar file size must be less than 2 MB"."""
    for unit, size in (("MB", 1024 * 1024), ("KB", 1024)):
        if limit >= size:
            return f"{limit / size:.3g} {unit}"
    return f"{limit} Bytes"


def validation_messages(uploads: dict[str, tuple[str, bytes]], limits: dict[str, int]) -> list[str]:
    """Paperclip's messages for avatar/header uploads: (declared type, bytes) per field."""
    messages = []
    for slot, (declared, data) in uploads.items():
        name = slot.title()
        if sniff_image(data) is None:
            if declared.startswith("image/"):  # the spoof detector compares bytes with the claim
                messages.append(f"{name} has contents that are not what they are reported to be")
            else:
                messages += [f"{name} content type is invalid", f"{name} is invalid"]
        elif len(data) >= limits[slot]:  # `less_than: LIMIT`; Paperclip says it twice
            size = human_size(limits[slot])
            messages += [
                f"{name} must be less than {size}",
                f"{name} file size must be less than {size}",
            ]
    return messages


def fault_body(status: int, error: str | None) -> Response:
    """What Mastodon (or the nginx in front of it) answers with this status."""
    if status in JSON_ERRORS:
        response = jsonify(error=error or JSON_ERRORS[status])
        response.status_code = status
        return response
    title = {500: "We're sorry, but something went wrong", 502: "502 Bad Gateway"}[status]
    return Response(
        f"<html><body><h1>{error or title}</h1></body></html>", status, mimetype="text/html"
    )


JSON_ERRORS = {
    401: "The access token is invalid",
    422: "Validation failed: Avatar is invalid",
    429: "Too many requests",
    503: "There was a temporary problem serving your request, please try again",
}
