"""The data export over the JSON API, with the same rules as the /settings/data page.

POST /api/v1/export → 202 {"id", "status", …} (409 {"error", "code": "export_running", "id"}
while one is queued or building); GET /api/v1/export/<id> → its status, with a download_url once
ready; GET /api/v1/export/<id>/download → the zip (410 once expired). The `read` scope: an
export only reads.
"""

from __future__ import annotations

from flask import Response, jsonify, url_for

from app.blueprints.api import api_user, bp
from app.downloads import streamed_attachment
from app.extensions import db
from app.models import DataExport, ExportStatus
from app.security import owned_or_404
from app.services.accounts import export


def _json(row: DataExport) -> dict:
    ready = row.status is ExportStatus.READY and not export.is_expired(row)
    url = url_for("api.download_export", export_id=row.id) if ready else None
    return export.as_json(row, url)


@bp.post("/export")
def create_export() -> tuple[Response, int]:
    try:
        row = export.request_export(api_user())
    except export.ExportRunning as running:
        db.session.rollback()
        return jsonify(error=running.message, code=running.code, id=running.export.id), 409
    db.session.commit()
    response = jsonify(_json(row))
    response.headers["Location"] = url_for("api.get_export", export_id=row.id)
    return response, 202


@bp.get("/export/<int:export_id>")
def get_export(export_id: int) -> Response:
    return jsonify(_json(owned_or_404(DataExport, export_id, owner=api_user())))


@bp.get("/export/<int:export_id>/download")
def download_export(export_id: int) -> Response:
    row = owned_or_404(DataExport, export_id, owner=api_user())
    source, filename = export.open_download(row)
    return streamed_attachment(source, "application/zip", filename, row.bytes)
