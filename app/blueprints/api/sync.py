"""Connected accounts and sync over the JSON API.

POST /api/v1/sync {"avatar_id": int|null, "banner_id": int|null, "accounts": [ids]|null,
"profile": bool, "profile_accounts": [ids]|null}: null image ids mean the current avatar/banner,
null accounts the person's default accounts (sync preferences); "profile": true carries the
profile text too, to those of the accounts whose platform sets text (only "profile_accounts" of
them when given); 202 {"id"}. GET /api/v1/sync/preview?accounts=1,2 shows what each would get.
A manual platform's task carries "files", "zip_url" and "settings_url" and stays "manual" until
POST /api/v1/sync/<id>/tasks/<task_id>/done (or /dismiss).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, jsonify, request

from app.blueprints.api import api_user, bp
from app.downloads import attachment
from app.extensions import db
from app.models import PlatformAccount, SyncRequest, SyncTask
from app.security import owned_or_404
from app.services.exceptions import DomainError, NotFound
from app.services.notifications.mail import external_url
from app.services.platforms import connections, health
from app.services.sync import drift, manual, releases

FIELDS = ("avatar_id", "banner_id", "accounts", "profile", "profile_accounts")


class BadSyncRequest(DomainError):
    status = 400
    code = "invalid_request"


class InvalidProfileChoice(DomainError):
    status = 422
    code = "invalid_request"

    def __init__(self, message: str, name: str):
        super().__init__(message)
        self.fields = {name: message}


@bp.get("/accounts")
def list_accounts() -> Response:
    return jsonify([_account_json(account) for account in connections.accounts_of(api_user())])


def _account_json(account: PlatformAccount) -> dict[str, Any]:
    state = health.health_of(account)
    return {
        "id": account.id,
        "platform": account.platform,
        "handle": account.handle,
        "status": account.status.value,
        "expires_at": _iso(state.expires_at),
        "last_pushed_at": _iso(state.last_pushed_at),
        "last_error": state.problem,
        "drift": _drift_json(account),
    }


def _drift_json(account: PlatformAccount) -> dict[str, Any]:
    """What the drift watch last saw per slot (app/services/sync/drift.py)."""
    return {
        "readable": drift.readable(account),
        "checked_at": _iso(account.drift_checked_at),
        "slots": {
            found.slot: {
                "status": found.status,
                "checked_at": _iso(found.checked_at),
                "error": found.error,
            }
            for found in drift.states(account)
        },
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@bp.post("/sync")
def start_sync() -> tuple[Response, int]:
    try:
        body = _sync_body()
    except InvalidProfileChoice as invalid:
        return jsonify(error=invalid.message, code=invalid.code, fields=invalid.fields), 422
    release = releases.start(
        api_user(),
        avatar_id=body.get("avatar_id"),
        banner_id=body.get("banner_id"),
        account_ids=body.get("accounts"),
        profile=body["profile"] is True,
        profile_account_ids=body.get("profile_accounts"),
    )
    db.session.commit()  # the tasks' jobs are queued now
    response = jsonify(id=release.id)
    response.headers["Location"] = f"/api/v1/sync/{release.id}"
    return response, 202


@bp.get("/sync/preview")
def preview_text() -> Response | tuple[Response, int]:
    """What each account would get from {"profile": true} now: ?accounts=1,2 (default: the
    default accounts), exactly as the sync would push it."""
    raw = request.args.get("accounts", "").strip()
    ids = [part.strip() for part in raw.split(",")] if raw else []
    if not all(part.isdigit() and _is_id(int(part)) for part in ids):
        message = "accounts must be account ids separated by commas."
        return jsonify(error=message, code="invalid_request", fields={"accounts": message}), 422
    previews, without = releases.text_preview(api_user(), [int(i) for i in ids] if ids else None)
    return jsonify(
        accounts=[
            {
                "account_id": row.account.id,
                "platform": row.account.platform,
                "handle": row.account.handle,
                "text": row.fitted.values,
                "cut": sorted(row.fitted.cut),
            }
            for row in previews
        ],
        without_text=[account.id for account in without],
    )


@bp.get("/sync")
def list_syncs() -> Response:
    return jsonify([_release_json(r) for r in releases.history(api_user())])


@bp.get("/sync/<int:request_id>")
def get_sync(request_id: int) -> Response:
    return jsonify(_release_json(owned_or_404(SyncRequest, request_id, owner=api_user())))


@bp.post("/sync/<int:request_id>/tasks/<int:task_id>/done")
def task_done(request_id: int, task_id: int) -> Response:
    task = manual.mark_done(_task(request_id, task_id))
    db.session.commit()
    return jsonify(_task_json(task))


@bp.post("/sync/<int:request_id>/tasks/<int:task_id>/dismiss")
def task_dismiss(request_id: int, task_id: int) -> Response:
    task = manual.dismiss(_task(request_id, task_id))
    db.session.commit()
    return jsonify(_task_json(task))


@bp.get("/sync/<int:request_id>/tasks/<int:task_id>/files/<preset>")
def task_file(request_id: int, task_id: int, preset: str) -> Response:
    manual_file, data = manual.file_of(_task(request_id, task_id), preset)
    return attachment(data, manual_file.mime, manual_file.filename)


@bp.get("/sync/<int:request_id>/manual.zip")
def manual_zip(request_id: int) -> Response:
    filename, data = manual.zip_of(owned_or_404(SyncRequest, request_id, owner=api_user()))
    return attachment(data, "application/zip", filename)


def _task(request_id: int, task_id: int) -> SyncTask:
    task = owned_or_404(SyncTask, task_id, owner=api_user())
    if task.request_id != request_id:
        raise NotFound(f"Sync {request_id} has no task {task_id}.")
    return task


def _release_json(release: SyncRequest) -> dict[str, Any]:
    body = releases.as_json(release)
    body["tasks"] = [_task_json(task) for task in release.tasks]
    return body


def _task_json(task: SyncTask) -> dict[str, Any]:
    body = releases.task_json(task)
    if task.is_manual:
        ids = {"request_id": task.request_id, "task_id": task.id}
        body["files"] = [
            {
                "preset": f.preset,
                "width": f.width,
                "height": f.height,
                "format": f.format,
                "bytes": f.bytes,
                "url": external_url("api.task_file", preset=f.preset, **ids),
            }
            for f in manual.files(task)
        ]
        body["zip_url"] = external_url("api.manual_zip", request_id=task.request_id)
        platform = manual.platform_of(task)
        body["settings_url"] = platform.settings_url
        body["steps"] = list(platform.steps_for(task.slot))
    return body


def _sync_body() -> dict[str, Any]:
    body = request.get_json(silent=True) if request.content_length else {}
    if body is None or not isinstance(body, dict):
        raise BadSyncRequest('Send a JSON object, e.g. {"avatar_id": null, "accounts": null}.')
    for name in ("avatar_id", "banner_id"):
        if not _is_id(body.get(name)) and body.get(name) is not None:
            raise BadSyncRequest(f"{name} must be an image id (a positive integer) or null.")
    accounts = body.get("accounts")
    if accounts is not None and (
        not isinstance(accounts, list) or not all(_is_id(item) for item in accounts)
    ):
        raise BadSyncRequest(
            "accounts must be a list of account ids, or null for your default accounts."
        )
    if not isinstance(body.get("profile", False), bool):
        raise InvalidProfileChoice(
            "profile must be true (sync the profile text too) or false.", "profile"
        )
    chosen = body.get("profile_accounts", body.get("profile_account_ids"))
    if chosen is not None and (
        not isinstance(chosen, list) or not all(_is_id(item) for item in chosen)
    ):
        raise InvalidProfileChoice(
            "profile_accounts must be a list of account ids, or null for every account.",
            "profile_accounts",
        )
    picked = {name: body.get(name) for name in FIELDS}
    picked["profile"] = body.get("profile", False)
    picked["profile_accounts"] = chosen
    return picked


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31
