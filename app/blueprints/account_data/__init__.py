"""Your data (/settings/data): ask for a full export, watch it being built, download it.

The download streams the zip from storage to its signed-in owner only (another person's id is
404, an expired one 410); no storage URL is ever handed out. The rules live in
app/services/accounts/export/.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app
from flask_login import current_user, login_required

from app.downloads import streamed_attachment
from app.extensions import db
from app.htmx import render
from app.models import DataExport
from app.security import owned_or_404
from app.services.accounts import export

bp = Blueprint("account_data", __name__)


def _page(status: int = 200, **context: Any) -> Response:
    exports = export.listing(current_user.id)
    return render(
        "account_data/index.html",
        "account_data/partials/exports.html",
        status,
        exports=exports,
        latest=exports[0] if exports else None,
        retention_days=current_app.config["EXPORT_RETENTION_DAYS"],
        is_expired=export.is_expired,
        **context,
    )


@bp.get("/settings/data")
@login_required
def index() -> Response:
    return _page()


@bp.post("/settings/data/exports")
@login_required
def create() -> Response:
    try:
        export.request_export(current_user)
    except export.ExportRunning as running:
        db.session.rollback()
        return _page(409, notice=running.message)
    db.session.commit()
    return _page(202, notice="Your export is being prepared. We will email you when it is ready.")


@bp.get("/settings/data/exports/<int:export_id>/download")
@login_required
def download(export_id: int) -> Response:
    return stream(owned_or_404(DataExport, export_id))


def stream(row: DataExport) -> Response:
    """The export's zip as an attachment, streamed from storage."""
    source, filename = export.open_download(row)
    return streamed_attachment(source, "application/zip", filename, row.bytes)
