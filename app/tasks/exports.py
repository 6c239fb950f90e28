"""Data export jobs: build one person's zip, and delete the zips that expired (periodic)."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.infra import row_security
from app.jobs import DEFAULT, job
from app.models import DataExport
from app.services.accounts import export


@job(DEFAULT)
def build_export(export_id: int) -> None:
    owner_id = db.session.scalar(select(DataExport.user_id).where(DataExport.id == export_id))
    if owner_id is None:
        return  # the account (and its exports) went meanwhile
    # The database itself then keeps anyone else's rows out of this person's zip.
    row_security.only(owner_id)
    export.build(export_id)  # commits; a second run of a finished export does nothing


@job(DEFAULT)
def expire_exports() -> int:
    """Periodic: exports past their expiry lose their file and are marked expired."""
    expired = export.expire_due()
    db.session.commit()
    return len(expired)
