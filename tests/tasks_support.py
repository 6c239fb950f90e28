"""Jobs used only by tests (importable by a worker, as RQ needs)."""

from pathlib import Path

from app.extensions import db
from app.jobs import DEFAULT, job
from app.models import User


@job(DEFAULT)
def record_email_seen(user_id: int, path: str) -> None:
    Path(path).write_text(db.session.get(User, user_id).email)


@job(DEFAULT)
def append_and_requeue_once(path: str) -> None:
    """Appends a line; the first run queues the same work again while it is itself running."""
    with open(path, "a") as handle:
        handle.write("ran\n")
    if Path(path).read_text().count("ran") == 1:
        from app.jobs import enqueue

        enqueue("append_and_requeue_once", path)


@job(DEFAULT)
def fail_while_flagged(flag: str, out: str) -> None:
    """Fails (with a two-line message) while the file `flag` exists; then appends to `out`."""
    if Path(flag).exists():
        raise RuntimeError("the flag is up\nsecond line of the message")
    with open(out, "a") as handle:
        handle.write("ran\n")
