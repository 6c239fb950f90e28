"""Jobs used only by tests (importable by a worker, as RQ needs)."""

from pathlib import Path

from app.extensions import db
from app.jobs import DEFAULT, job
from app.models import User


@job(DEFAULT)
def record_email_seen(user_id: int, path: str) -> None:
    Path(path).write_text(db.session.get(User, user_id).email)
