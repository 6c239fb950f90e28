"""Connected accounts and sync over the JSON API.

POST /api/v1/sync {"avatar_id": int|null, "banner_id": int|null, "accounts": [ids]|null}: null
image ids mean the current avatar/banner, null accounts every connected account; 202 {"id"}.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, jsonify, request

from app.blueprints.api import api_user, bp
from app.extensions import db
from app.models import PlatformAccount, SyncRequest
from app.security import owned_or_404
from app.services.exceptions import DomainError
from app.services.platforms import connections, health
from app.services.sync import releases

FIELDS = ("avatar_id", "banner_id", "accounts")


class BadSyncRequest(DomainError):
    status = 400
    code = "invalid_request"


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
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@bp.post("/sync")
def start_sync() -> tuple[Response, int]:
    body = _sync_body()
    release = releases.start(
        api_user(),
        avatar_id=body.get("avatar_id"),
        banner_id=body.get("banner_id"),
        account_ids=body.get("accounts"),
    )
    db.session.commit()  # the tasks' jobs are queued now
    response = jsonify(id=release.id)
    response.headers["Location"] = f"/api/v1/sync/{release.id}"
    return response, 202


@bp.get("/sync")
def list_syncs() -> Response:
    return jsonify([releases.as_json(r) for r in releases.history(api_user())])


@bp.get("/sync/<int:request_id>")
def get_sync(request_id: int) -> Response:
    return jsonify(releases.as_json(owned_or_404(SyncRequest, request_id, owner=api_user())))


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
        raise BadSyncRequest("accounts must be a list of account ids, or null for all of them.")
    return {name: body.get(name) for name in FIELDS}


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31
