"""Data export jobs: build one person's zip, and delete the zips that expired (periodic)."""

from __future__ import annotations

from app.extensions import db
from app.jobs import DEFAULT, job
from app.services.accounts import export


@job(DEFAULT)
def build_export(export_id: int) -> None:
    export.build(export_id)  # commits; a second run of a finished export does nothing


@job(DEFAULT)
def expire_exports() -> int:
    """Periodic: exports past their expiry lose their file and are marked expired."""
    expired = export.expire_due()
    db.session.commit()
    return len(expired)
