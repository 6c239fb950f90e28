"""The OpenAPI 3.1 document of the JSON API (/api/v1/openapi.json, rendered at /api/docs).

Plain data: one SCHEMAS entry per object the API answers with, one OPERATIONS row per route.
A new route is one `_op(...)` row in OPERATIONS (plus its schema when it answers a new object);
tests/web/test_openapi.py fails until every Flask rule under /api/v1 has its row. Enumerations
come from the models and services, so a new status shows up here without an edit.
"""

from __future__ import annotations

import re
from copy import deepcopy
from functools import cache
from typing import Any

from app.models import (
    AccountStatus,
    ExportStatus,
    ImageKind,
    ImageStatus,
    Role,
    ScheduleStatus,
    TaskStatus,
)
from app.services.accounts.api_tokens import SCOPES, scope_needed
from app.services.analytics.dashboard import SERIES
from app.services.analytics.recording import KINDS
from app.services.notifications.events import TYPES as EVENT_STREAM_TYPES
from app.services.sync import drift
from app.services.webhooks.endpoints import EVENT_TYPES

VERSION = "1.0.0"
Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _null(schema: Schema | str) -> Schema:
    """JSON Schema 2020-12's nullable: the type, or null."""
    if isinstance(schema, str):
        return {"type": [schema, "null"]}
    if "type" in schema:
        return {**schema, "type": [schema["type"], "null"]}
    return {"oneOf": [schema, {"type": "null"}]}


def _obj(props: dict[str, Schema | str], optional: dict[str, Schema | str] | None = None) -> Schema:
    """An object whose `props` are always there (strings are bare types); `optional` may be."""
    every = {**props, **(optional or {})}
    return {
        "type": "object",
        "required": list(props),
        "properties": {k: {"type": v} if isinstance(v, str) else v for k, v in every.items()},
    }


def _list(item: Schema | str) -> Schema:
    return {"type": "array", "items": {"type": item} if isinstance(item, str) else item}


def _enum(values) -> Schema:
    return {"type": "string", "enum": sorted(str(v) for v in values)}


ID = {"type": "integer", "minimum": 1}
TIME = {"type": "string", "format": "date-time"}
DAY = {"type": "string", "format": "date"}
COUNT = {"type": "integer", "minimum": 0}

SCHEMAS: dict[str, Schema] = {
    "Error": _obj(
        {"error": {"type": "string", "description": "A sentence to show a person."}},
        {
            "code": {"type": "string", "description": "Stable machine-readable reason."},
            "fields": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "On 422s: each refused field and what is wrong with it.",
            },
        },
    ),
    "Me": _obj(
        {
            "id": ID,
            "email": "string",
            "name": _null("string"),
            "role": _enum(Role),
            "email_verified": "boolean",
            "created_at": _null(TIME),
        }
    ),
    "Variant": _obj(
        {
            "preset": "string",
            "width": "integer",
            "height": "integer",
            "bytes": "integer",
            "format": "string",
            "url": {"type": "string", "description": "Where the file is served."},
        }
    ),
    "Image": _obj(
        {
            "id": ID,
            "kind": _enum(ImageKind),
            "status": _enum(ImageStatus),
            "current": "boolean",
            "width": _null("integer"),
            "height": _null("integer"),
            "error": _null("string"),
            "focus": {
                **_null(_ref("Focus")),
                "description": "Where the subject is (the first crop centres on it); null "
                "until the files are made, or when no face (avatar) or region was found.",
            },
            "variants": _list(_ref("Variant")),
        },
        {"sync_id": {**ID, "description": "Only after make-current with auto-sync on."}},
    ),
    "Focus": _obj(
        {
            "x": "number",
            "y": "number",
            "w": "number",
            "h": "number",
            "source": {
                "type": "string",
                "enum": ["face", "salient"],
                "description": "The most prominent face, or (banners) the most salient region.",
            },
        }
    ),
    "ImageAccepted": _obj({"id": ID, "kind": _enum(ImageKind), "status": _enum(ImageStatus)}),
    "Preset": _obj(
        {
            "key": "string",
            "kind": _enum(ImageKind),
            "platform": "string",
            "width": "integer",
            "height": "integer",
            "max_bytes": "integer",
            "formats": _list("string"),
        }
    ),
    "SlotDrift": _obj(
        {
            "status": _enum(
                (drift.UNCHANGED, drift.CHANGED, drift.KEPT, drift.UNREAD, drift.UNREADABLE)
            ),
            "checked_at": _null(TIME),
            "error": _null("string"),
        }
    ),
    "Drift": _obj(
        {
            "readable": "boolean",
            "checked_at": _null(TIME),
            "slots": {
                "type": "object",
                "description": "Per slot (avatar, banner).",
                "additionalProperties": _ref("SlotDrift"),
            },
        }
    ),
    "Account": _obj(
        {
            "id": ID,
            "platform": "string",
            "handle": "string",
            "status": _enum(AccountStatus),
            "expires_at": _null({**TIME, "description": "null: the access never expires."}),
            "last_pushed_at": _null(TIME),
            "last_error": _null("string"),
            "drift": _ref("Drift"),
        }
    ),
    "ManualFile": _obj(
        {
            "preset": "string",
            "width": "integer",
            "height": "integer",
            "format": "string",
            "bytes": "integer",
            "url": {"type": "string", "format": "uri"},
        }
    ),
    "Task": _obj(
        {
            "id": ID,
            "account_id": ID,
            "platform": "string",
            "handle": "string",
            "slot": _enum(("avatar", "banner", "profile")),
            "status": _enum(TaskStatus),
            "attempts": COUNT,
            "error": _null("string"),
            "next_attempt_at": _null({**TIME, "description": "Set while retrying."}),
        },
        # A manual platform's step: what to upload by hand, and where.
        {
            "files": _list(_ref("ManualFile")),
            "zip_url": {"type": "string", "format": "uri"},
            "settings_url": {"type": "string", "format": "uri"},
            "steps": _list("string"),
        },
    ),
    "Release": _obj(
        {
            "id": ID,
            "status": _enum(("queued", "running", "waiting", "succeeded", "partial", "failed")),
            "created_at": _null(TIME),
            "avatar_id": _null("integer"),
            "banner_id": _null("integer"),
            "restored_from": _null("integer"),
            "profile": _null(
                {"type": "object", "description": "The profile text the release carries."}
            ),
            "finished_at": _null(TIME),
            "tasks": _list(_ref("Task")),
        }
    ),
    "SyncRequest": {
        **_obj(
            {},
            {
                "avatar_id": {**_null("integer"), "description": "null: the current avatar."},
                "banner_id": {**_null("integer"), "description": "null: the current banner."},
                "accounts": {**_null(_list(ID)), "description": "null: the default accounts."},
                "profile": {"type": "boolean", "description": "Carry the profile text too."},
                "profile_accounts": {
                    **_null(_list(ID)),
                    "description": "Which of the accounts get the text; null: all of them.",
                },
            },
        ),
        "additionalProperties": False,
    },
    "TextPreview": _obj(
        {
            "accounts": _list(
                _obj(
                    {
                        "account_id": ID,
                        "platform": "string",
                        "handle": "string",
                        "text": {"type": "object", "description": "Field name → text."},
                        "cut": _list("string"),
                    }
                )
            ),
            "without_text": _list(ID),
        }
    ),
    "ProfileLink": _obj({"label": "string", "url": "string"}),
    "Profile": _obj(
        {
            "display_name": "string",
            "handle": _null("string"),
            "bio": "string",
            "website": "string",
            "location": "string",
            "links": _list(_ref("ProfileLink")),
            "public": "boolean",
        }
    ),
    "ProfileChange": {
        **_obj(
            {},
            {
                "display_name": "string",
                "handle": _null("string"),
                "bio": "string",
                "website": "string",
                "location": "string",
                "links": _list(_ref("ProfileLink")),
                "public": "boolean",
            },
        ),
        "additionalProperties": False,
    },
    "ScheduleRequest": {
        **_obj(
            {"at": {"type": "string", "description": "ISO 8601; no offset: your time zone."}},
            {
                "avatar_id": _null("integer"),
                "banner_id": _null("integer"),
                "profile": "boolean",
                "revert_at": _null("string"),
            },
        ),
        "additionalProperties": False,
    },
    "Schedule": _obj(
        {
            "id": ID,
            "status": _enum(ScheduleStatus),
            "avatar_id": _null("integer"),
            "banner_id": _null("integer"),
            "profile": "boolean",
            "at": _null(TIME),
            "revert_at": _null(TIME),
            "time_zone": "string",
            "at_local": _null(TIME),
            "revert_at_local": _null(TIME),
            "previous_avatar_id": _null("integer"),
            "previous_banner_id": _null("integer"),
            "run_release_id": _null("integer"),
            "revert_release_id": _null("integer"),
            "ran_at": _null(TIME),
            "reverted_at": _null(TIME),
            "error": _null("string"),
        }
    ),
    "Created": _obj({"id": ID}),
    "WebhookRequest": {
        **_obj({"url": {"type": "string", "format": "uri"}, "events": _list(_enum(EVENT_TYPES))}),
        "additionalProperties": False,
    },
    "WebhookCreated": _obj(
        {"id": ID, "secret": {"type": "string", "description": "whsec_…; shown only here."}}
    ),
    "Webhook": _obj(
        {
            "id": ID,
            "url": "string",
            "events": _list(_enum(EVENT_TYPES)),
            "enabled": "boolean",
            "created_at": _null(TIME),
        }
    ),
    "DeliveryQueued": _obj({"delivery_id": ID}),
    "Notification": _obj(
        {
            "id": ID,
            "type": _enum(EVENT_STREAM_TYPES),
            "sentence": "string",
            "data": {"type": "object"},
            "read": "boolean",
            "created_at": TIME,
        }
    ),
    "Notifications": _obj(
        {
            "notifications": _list(_ref("Notification")),
            "unread": COUNT,
            "next_before": _null(ID),
        }
    ),
    "MarkRead": _obj({}, {"ids": _list(ID)}),
    "Marked": _obj({"marked": COUNT, "unread": COUNT}),
    "AnalyticsSummary": _obj(
        {
            "from": DAY,
            "to": DAY,
            "totals": _obj(dict.fromkeys(SERIES, COUNT)),
            "days": _list(_obj({"day": DAY, **dict.fromkeys(SERIES, COUNT)})),
            "top_links": _list(_obj({"url": "string", "clicks": COUNT})),
            "top_referrers": _list(_obj({"host": "string", "views": COUNT})),
            "sync": _list(
                _obj(
                    {
                        "platform": "string",
                        "attempted": COUNT,
                        "live": COUNT,
                        "failed": COUNT,
                        "success_rate": _null("number"),
                        "median_time_to_live_seconds": _null("number"),
                    }
                )
            ),
            "followers": _list(
                _obj(
                    {
                        "platform": "string",
                        "handle": "string",
                        "points": _list(_obj({"day": DAY, "count": COUNT})),
                    }
                )
            ),
        }
    ),
    "AnalyticsEvent": _obj(
        {
            "id": ID,
            "type": _enum(KINDS),
            "occurred_at": TIME,
            "bot": "boolean",
            "referrer": _null("string"),
            "subject": _null("string"),
            "outcome": _null("string"),
            "duration_ms": _null("integer"),
        }
    ),
    "AnalyticsEvents": _obj(
        {
            "events": _list(_ref("AnalyticsEvent")),
            "next_cursor": _null({"type": "string", "description": "null: no more pages."}),
        }
    ),
    "Export": _obj(
        {
            "id": ID,
            "status": _enum(ExportStatus),
            "created_at": TIME,
            "finished_at": _null(TIME),
            "expires_at": _null(
                {**TIME, "description": "Until when it can be downloaded (set when ready)."}
            ),
            "bytes": _null({**COUNT, "description": "The zip's size, once ready."}),
            "error": _null("string"),
            "download_url": _null(
                {"type": "string", "description": "Set while ready: the zip, with your token."}
            ),
        }
    ),
}

_ERROR_BODY = {"application/json": {"schema": _ref("Error")}}
RESPONSES: dict[str, Schema] = {
    "BadRequest": {"description": "The request could not be read.", "content": _ERROR_BODY},
    "Unauthorized": {
        "description": "No token, or a token that is not valid or was revoked.",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
        "content": _ERROR_BODY,
    },
    "Forbidden": {
        "description": "The token lacks the scope this call needs (code insufficient_scope).",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
        "content": _ERROR_BODY,
    },
    "NotFound": {"description": "No such id among yours.", "content": _ERROR_BODY},
    "Conflict": {"description": "Not possible in its current state.", "content": _ERROR_BODY},
    "Gone": {"description": "Expired, and deleted.", "content": _ERROR_BODY},
    "TooLarge": {"description": "The upload is too large.", "content": _ERROR_BODY},
    "Unsupported": {"description": "Not an image format we take.", "content": _ERROR_BODY},
    "Unprocessable": {
        "description": "A value could not be used; `fields` names each one.",
        "content": _ERROR_BODY,
    },
    "TooManyRequests": {
        "description": "Rate limited; wait Retry-After seconds.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": _ERROR_BODY,
    },
}
_ERRORS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Gone",
    413: "TooLarge",
    415: "Unsupported",
    422: "Unprocessable",
    429: "TooManyRequests",
}

AUTH = f"""Every call but this document needs a personal API token, made in **Settings → API \
tokens** (or `flask tokens create`), sent as `Authorization: Bearer lk_…`. A token has scopes, \
chosen when it is made: {", ".join(f"`{s}`" for s in SCOPES)}. `read` allows every GET, \
`write` every other method, `analytics` the calls under /api/v1/analytics; asking for a data \
export (/api/v1/export) needs only `read`. A call without the \
scope it needs is a 403 with code `insufficient_scope` and \
`WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`."""


def _json(schema: Schema) -> Schema:
    return {"content": {"application/json": {"schema": schema}}}


def _path_param(name: str) -> Schema:
    """`…_id` segments are ids (Flask's <int:…>); any other is a string (a preset key)."""
    schema = ID if name.endswith("_id") else {"type": "string"}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query(name: str, description: str, schema: Schema | None = None) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _op(
    method: str,
    path: str,
    endpoint: str,
    tag: str,
    summary: str,
    ok: tuple[int, str, Schema | None],
    *,
    body: Schema | None = None,
    query: list[Schema] | None = None,
    errors: tuple[int, ...] = (),
    description: str = "",
) -> tuple[str, str, Schema]:
    """One operation: `ok` is (status, description, JSON schema or None for no body)."""
    params = [_path_param(name) for name in re.findall(r"\{(\w+)\}", path)] + (query or [])
    status, ok_text, ok_schema = ok
    responses: dict[str, Schema] = {str(status): {"description": ok_text}}
    if ok_schema is not None:
        responses[str(status)].update(_json(ok_schema) if "content" not in ok_schema else ok_schema)
    codes = set(errors) | {401, 403, 429} | ({404} if "{" in path else set())
    for code in sorted(codes):
        responses[str(code)] = {"$ref": f"#/components/responses/{_ERRORS[code]}"}
    scope = scope_needed(method.upper(), path)
    operation: Schema = {
        "operationId": endpoint,
        "tags": [tag],
        "summary": summary,
        "description": (description + "\n\n" if description else "") + f"Scope: `{scope}`.",
        "x-scope": scope,
        "security": [{"bearerToken": []}],
        "responses": responses,
    }
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = body
    return path, method, operation


def _body(schema: Schema, required: bool = True) -> Schema:
    return {"required": required, **_json(schema)}


def _binary(mime: str) -> Schema:
    return {"content": {mime: {"schema": {"type": "string", "contentMediaType": mime}}}}


V1 = "/api/v1"
SYNC = f"{V1}/sync/{{request_id}}"
TASK = f"{SYNC}/tasks/{{task_id}}"

OPERATIONS: list[tuple[str, str, Schema]] = [
    _op(
        "get",
        f"{V1}/me",
        "api.me",
        "Account",
        "Who this token belongs to",
        (200, "You.", _ref("Me")),
    ),
    # Images
    _op(
        "post",
        f"{V1}/images",
        "api.create_image",
        "Images",
        "Upload an avatar or banner",
        (202, "Stored; a job makes every platform's file.", _ref("ImageAccepted")),
        body={
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": _obj(
                        {
                            "kind": _enum(ImageKind),
                            "file": {
                                "type": "string",
                                "contentMediaType": "application/octet-stream",
                            },
                        }
                    )
                }
            },
        },
        errors=(400, 413, 415, 422),
        description="Counts against UPLOAD_RATE_LIMIT together with the web upload.",
    ),
    _op(
        "get",
        f"{V1}/images",
        "api.list_images",
        "Images",
        "Your images",
        (200, "Newest first.", _list(_ref("Image"))),
    ),
    _op(
        "get",
        f"{V1}/images/{{image_id}}",
        "api.get_image",
        "Images",
        "One image",
        (200, "The image.", _ref("Image")),
    ),
    _op(
        "post",
        f"{V1}/images/{{image_id}}/current",
        "api.make_current",
        "Images",
        "Make an image the current avatar or banner",
        (200, "The image; `sync_id` when auto-sync pushed it.", _ref("Image")),
        errors=(409,),
    ),
    _op(
        "delete",
        f"{V1}/images/{{image_id}}",
        "api.delete_image",
        "Images",
        "Delete an image",
        (204, "Deleted.", None),
    ),
    _op(
        "get",
        f"{V1}/presets",
        "api.list_presets",
        "Images",
        "The output presets",
        (200, "Every platform's sizes.", _list(_ref("Preset"))),
    ),
    # Sync
    _op(
        "get",
        f"{V1}/accounts",
        "api.list_accounts",
        "Sync",
        "Connected accounts",
        (200, "With their health and drift.", _list(_ref("Account"))),
    ),
    _op(
        "post",
        f"{V1}/sync",
        "api.start_sync",
        "Sync",
        "Push images (and profile text) to accounts",
        (202, "Started; poll the release.", _ref("Created")),
        body=_body(_ref("SyncRequest"), required=False),
        errors=(400, 404, 409, 422),
    ),
    _op(
        "get",
        f"{V1}/sync/preview",
        "api.preview_text",
        "Sync",
        "What each account's profile text would be",
        (200, "Cut to each platform's limits.", _ref("TextPreview")),
        query=[_query("accounts", "Account ids, comma separated (default: the default accounts).")],
        errors=(422,),
    ),
    _op(
        "get",
        f"{V1}/sync",
        "api.list_syncs",
        "Sync",
        "Latest releases",
        (200, "Newest first.", _list(_ref("Release"))),
    ),
    _op(
        "get",
        SYNC,
        "api.get_sync",
        "Sync",
        "One release",
        (200, "The release and its tasks.", _ref("Release")),
    ),
    _op(
        "post",
        f"{TASK}/done",
        "api.task_done",
        "Sync",
        "Mark a manual step done",
        (200, "The task, now done.", _ref("Task")),
        errors=(409,),
    ),
    _op(
        "post",
        f"{TASK}/dismiss",
        "api.task_dismiss",
        "Sync",
        "Dismiss a manual step",
        (200, "The task, now dismissed.", _ref("Task")),
        errors=(409,),
    ),
    _op(
        "get",
        f"{TASK}/files/{{preset}}",
        "api.task_file",
        "Sync",
        "A manual step's file",
        (200, "The file, as an attachment.", _binary("image/*")),
    ),
    _op(
        "get",
        f"{SYNC}/manual.zip",
        "api.manual_zip",
        "Sync",
        "Every manual file of a release",
        (200, "A zip with the files and steps.", _binary("application/zip")),
    ),
    # Profile
    _op(
        "get",
        f"{V1}/profile",
        "api.get_profile",
        "Profile",
        "Your profile",
        (200, "The profile.", _ref("Profile")),
    ),
    _op(
        "patch",
        f"{V1}/profile",
        "api.patch_profile",
        "Profile",
        "Change profile fields",
        (200, "The whole profile after the change.", _ref("Profile")),
        body=_body(_ref("ProfileChange")),
        errors=(422,),
        description="Any subset of the fields; a refusal changes nothing.",
    ),
    # Schedules
    _op(
        "post",
        f"{V1}/schedules",
        "api.create_schedule",
        "Schedules",
        "Schedule a look",
        (201, "Scheduled; Location names it.", _ref("Created")),
        body=_body(_ref("ScheduleRequest")),
        errors=(404, 422),
    ),
    _op(
        "get",
        f"{V1}/schedules",
        "api.list_schedules",
        "Schedules",
        "Your schedules",
        (200, "Times in UTC plus local.", _list(_ref("Schedule"))),
    ),
    _op(
        "get",
        f"{V1}/schedules/{{scheduled_release_id}}",
        "api.get_schedule",
        "Schedules",
        "One schedule",
        (200, "The schedule.", _ref("Schedule")),
    ),
    _op(
        "delete",
        f"{V1}/schedules/{{scheduled_release_id}}",
        "api.cancel_schedule",
        "Schedules",
        "Cancel a schedule",
        (200, "The schedule, now cancelled.", _ref("Schedule")),
        errors=(409,),
    ),
    # Webhooks
    _op(
        "post",
        f"{V1}/webhooks",
        "api.create_webhook",
        "Webhooks",
        "Add a webhook endpoint",
        (201, "Added; the secret is shown only here.", _ref("WebhookCreated")),
        body=_body(_ref("WebhookRequest")),
        errors=(422,),
    ),
    _op(
        "get",
        f"{V1}/webhooks",
        "api.list_webhooks",
        "Webhooks",
        "Your webhook endpoints",
        (200, "Never with the secret.", _list(_ref("Webhook"))),
    ),
    _op(
        "delete",
        f"{V1}/webhooks/{{endpoint_id}}",
        "api.delete_webhook",
        "Webhooks",
        "Remove an endpoint",
        (204, "Removed with its delivery log.", None),
    ),
    _op(
        "post",
        f"{V1}/webhooks/{{endpoint_id}}/test",
        "api.test_webhook",
        "Webhooks",
        "Send a test event",
        (202, "A job sends webhook.test.", _ref("DeliveryQueued")),
    ),
    # Notifications
    _op(
        "get",
        f"{V1}/notifications",
        "api.list_notifications",
        "Notifications",
        "Your notifications, newest first",
        (
            200,
            "A page of them, the unread count, and where the next page starts.",
            _ref("Notifications"),
        ),
        query=[
            _query("before", "Only notifications older than this id (a next_before).", ID),
            _query(
                "limit",
                "How many (1 to 100, default 30).",
                {"type": "integer", "minimum": 1, "maximum": 100},
            ),
        ],
        errors=(422,),
    ),
    _op(
        "post",
        f"{V1}/notifications/read",
        "api.read_notifications",
        "Notifications",
        "Mark notifications read",
        (200, "How many changed, and what is still unread.", _ref("Marked")),
        body=_body(_ref("MarkRead"), required=False),
        errors=(422,),
        description='`{}` marks all read; `{"ids": [...]}` those (others\' ids change nothing).',
    ),
    # Your data
    _op(
        "post",
        f"{V1}/export",
        "api.create_export",
        "Your data",
        "Ask for a full export of your data",
        (202, "Queued; a job builds one zip of everything about you.", _ref("Export")),
        errors=(409,),
        description="One at a time: while one is queued or building this answers 409 with its "
        "`id`. When it is ready you get a notification and an email.",
    ),
    _op(
        "get",
        f"{V1}/export/{{export_id}}",
        "api.get_export",
        "Your data",
        "An export's status",
        (200, "The export; `download_url` once ready.", _ref("Export")),
    ),
    _op(
        "get",
        f"{V1}/export/{{export_id}}/download",
        "api.download_export",
        "Your data",
        "Download an export",
        (200, "The zip: data/*.json, your pictures, README.txt.", _binary("application/zip")),
        errors=(409, 410),
        description="409 while it is not ready (or failed); 410 once expired.",
    ),
    # Analytics
    _op(
        "get",
        f"{V1}/analytics/summary",
        "api.analytics_summary",
        "Analytics",
        "The dashboard's numbers",
        (
            200,
            "Totals, per day, top links and referrers, sync, followers.",
            _ref("AnalyticsSummary"),
        ),
        query=[
            _query("from", "First UTC day (default: 29 days before `to`).", DAY),
            _query("to", "Last UTC day, included (default: today); at most 366 days.", DAY),
        ],
        errors=(422,),
    ),
    _op(
        "get",
        f"{V1}/analytics/events",
        "api.analytics_events",
        "Analytics",
        "Raw events, newest first",
        (200, "100 a page.", _ref("AnalyticsEvents")),
        query=[
            _query("type", "Only events of this type.", _enum(KINDS)),
            _query("cursor", "A next_cursor this endpoint returned."),
        ],
        errors=(422,),
    ),
]


def _public_document_op() -> tuple[str, str, Schema]:
    path, method, operation = _op(
        "get",
        f"{V1}/openapi.json",
        "api.openapi_document",
        "Documentation",
        "This document",
        (200, "The OpenAPI 3.1 document.", {"type": "object"}),
    )
    operation["security"] = []  # anyone may read it
    operation["description"] = "No token needed."
    operation["x-scope"] = None
    operation["responses"] = {"200": operation["responses"]["200"]}
    return path, method, operation


@cache
def _document() -> Schema:
    paths: dict[str, dict[str, Schema]] = {}
    for path, method, operation in [_public_document_op(), *OPERATIONS]:
        paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Linkarooie API",
            "version": VERSION,
            "description": "Your images, connected accounts, syncs, profile, schedules, "
            'webhooks and analytics. Errors are `{"error", "code"}` (plus `fields` on '
            "422s); another person's ids are 404. Requests are rate limited per token "
            "(API_RATE_LIMIT) and failed authentications per address; over the limit is a 429 "
            "with Retry-After.",
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": name}
            for name in (
                "Account",
                "Images",
                "Sync",
                "Profile",
                "Schedules",
                "Webhooks",
                "Notifications",
                "Your data",
                "Analytics",
                "Documentation",
            )
        ],
        "security": [{"bearerToken": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer", "description": AUTH}
            },
            "schemas": SCHEMAS,
            "responses": RESPONSES,
        },
    }


def document() -> Schema:
    """A copy the caller may change."""
    return deepcopy(_document())


# What /api/docs shows: operations grouped by tag and schemas as field lists, refs by name.


def type_text(schema: Schema) -> str:
    """A schema in one line: `Image[]`, `string | null`, `one of: a, b`, `{day: date, …}`."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[1]
    if "oneOf" in schema:
        return " | ".join(type_text(s) for s in schema["oneOf"])
    if "enum" in schema:
        return "one of: " + ", ".join(schema["enum"])
    kinds = schema.get("type", "any")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    shown = []
    for kind in kinds:
        if kind == "array":
            shown.append(type_text(schema.get("items", {})) + "[]")
        elif kind == "object" and "properties" in schema:
            props = schema["properties"]
            shown.append("{" + ", ".join(f"{k}: {type_text(v)}" for k, v in props.items()) + "}")
        elif kind == "object" and isinstance(schema.get("additionalProperties"), dict):
            shown.append("{name: " + type_text(schema["additionalProperties"]) + "}")
        elif kind == "string" and "format" in schema:
            shown.append(schema["format"])
        else:
            shown.append(kind)
    return " | ".join(shown)


def fields(schema: Schema) -> list[dict[str, Any]]:
    """An object schema's fields (name, type, required, description); [] for anything else."""
    if "$ref" in schema:
        schema = SCHEMAS[schema["$ref"].rsplit("/", 1)[1]]
    required = set(schema.get("required", ()))
    return [
        {
            "name": name,
            "type": type_text(prop),
            "required": name in required,
            "description": prop.get("description", ""),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _resolved_response(response: Schema) -> Schema:
    if "$ref" in response:
        return RESPONSES[response["$ref"].rsplit("/", 1)[1]]
    return response


def docs_sections() -> list[dict[str, Any]]:
    """The tags in order, each with its operations as the docs page shows them."""
    spec = _document()
    by_tag: dict[str, list[dict[str, Any]]] = {tag["name"]: [] for tag in spec["tags"]}
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {})
            responses = []
            for status, response in op["responses"].items():
                resolved = _resolved_response(response)
                content = resolved.get("content", {})
                responses.append(
                    {
                        "status": status,
                        "description": resolved["description"],
                        "media": [
                            {"type": mime, "schema": type_text(media["schema"])}
                            for mime, media in content.items()
                        ],
                    }
                )
            by_tag[op["tags"][0]].append(
                {
                    "id": op["operationId"],
                    "method": method.upper(),
                    "path": path,
                    "summary": op["summary"],
                    "scope": op["x-scope"],
                    "description": op.get("description", ""),
                    "parameters": [
                        {**p, "type": type_text(p["schema"])} for p in op.get("parameters", [])
                    ],
                    "body": [
                        {
                            "type": mime,
                            "schema": type_text(media["schema"]),
                            "fields": fields(media["schema"]),
                        }
                        for mime, media in body.items()
                    ],
                    "responses": responses,
                }
            )
    return [{"name": name, "operations": ops} for name, ops in by_tag.items() if ops]


def docs_schemas() -> list[dict[str, Any]]:
    return [
        {"name": name, "type": type_text(schema), "fields": fields(schema)}
        for name, schema in SCHEMAS.items()
    ]
