"""The jobs layer: below the services, one job per piece of waiting work, and after-commit work
that follows savepoints (only what a rolled-back savepoint registered is dropped)."""

import ast
from datetime import timedelta
from pathlib import Path

from app.extensions import db
from app.jobs import InProcessBackend, enqueue, enqueue_on_commit
from app.models import User
from tests.conftest import queued_job_ids
from tests.tasks_support import append_and_requeue_once, record_email_seen

APP = Path(__file__).resolve().parents[2] / "app"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_services_and_the_jobs_layer_never_import_tasks():
    offenders = {
        str(path.relative_to(APP.parent)): sorted(
            name for name in _imports(path) if name == "app.tasks" or name.startswith("app.tasks.")
        )
        for folder in ("services", "jobs")
        for path in (APP / folder).rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def _queued(app) -> list[str]:
    return queued_job_ids(app, record_email_seen.queue_name)


def test_identical_work_is_queued_once_while_it_waits(app, run_jobs, tmp_path):
    user = User(email="a@example.com")
    db.session.add(user)
    db.session.commit()
    path = str(tmp_path / "seen.txt")

    first = enqueue(record_email_seen, user.id, path)
    assert enqueue("record_email_seen", user.id, path) is None  # the same work already waits
    other = enqueue(record_email_seen, user.id, str(tmp_path / "other.txt"))
    assert _queued(app) == [first, other] and first != other
    assert first == app.extensions["jobs"].job_id(record_email_seen, (user.id, path))

    assert run_jobs() == 2
    # Done work is queued again on request, under the same id.
    assert enqueue(record_email_seen, user.id, path) == first
    assert _queued(app) == [first]


def test_work_queued_while_its_own_job_runs_runs_again(app, run_jobs, tmp_path):
    path = tmp_path / "runs.txt"
    enqueue(append_and_requeue_once, str(path))
    assert run_jobs() == 2
    assert path.read_text() == "ran\nran\n"


def test_embedded_backend_also_keeps_one_copy_of_waiting_work(app, tmp_path):
    backend = InProcessBackend(app)
    later = timedelta(hours=1)
    assert backend.enqueue(record_email_seen, (1, "a"), delay=later) is not None
    assert backend.enqueue(record_email_seen, (1, "a"), delay=later) is None
    assert backend.enqueue(record_email_seen, (2, "a"), delay=later) is not None


def _add_user(email: str) -> User:
    user = User(email=email)
    db.session.add(user)
    db.session.flush()
    return user


def test_rolled_back_savepoint_drops_only_its_own_work(app):
    backend = app.extensions["jobs"]
    before = _add_user("before@example.com")
    enqueue_on_commit(record_email_seen, before.id, "before")

    savepoint = db.session.begin_nested()
    inside = _add_user("inside@example.com")
    enqueue_on_commit(record_email_seen, inside.id, "inside")
    savepoint.rollback()

    with db.session.begin_nested():  # released: its work joins the outer transaction
        kept = _add_user("kept@example.com")
        enqueue_on_commit(record_email_seen, kept.id, "kept")
    assert _queued(app) == []  # nothing before the outer commit: its rows are not visible yet

    db.session.commit()
    assert _queued(app) == [
        backend.job_id(record_email_seen, (before.id, "before")),
        backend.job_id(record_email_seen, (kept.id, "kept")),
    ]
    emails = set(db.session.scalars(db.select(User.email)))
    assert emails == {"before@example.com", "kept@example.com"}


def test_after_commit_callbacks_follow_the_same_rules(app):
    from app.jobs import after_commit

    ran = []
    after_commit(ran.append, "before")
    outer = db.session.begin_nested()
    with db.session.begin_nested():  # released into a savepoint that is then rolled back
        after_commit(ran.append, "inner")
    after_commit(ran.append, "outer")
    outer.rollback()
    with db.session.begin_nested():
        after_commit(ran.append, "released")
    assert ran == []
    db.session.commit()
    assert ran == ["before", "released"]

    after_commit(ran.append, "rolled back")
    db.session.rollback()
    db.session.commit()
    assert ran == ["before", "released"]


def test_services_never_read_the_request_or_render_pages():
    # Services take plain values (an address, a site URL) so jobs and the CLI can call them too.
    banned = {"flask.request", "flask.session", "flask.g", "flask.render_template"}
    offenders = {
        str(path.relative_to(APP.parent)): sorted(_imports(path) & banned)
        for path in (APP / "services").rglob("*.py")
    }
    allowed = {"app/services/notifications/outbox.py": ["flask.render_template"]}  # mail bodies
    assert {path: names for path, names in offenders.items() if names} == allowed
