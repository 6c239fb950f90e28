"""Your data (/settings/data) and POST /api/v1/export: ask, watch, get told by mail and in the
app, download as the signed-in owner only, 410 once expired; one export at a time, on the page,
over the API and in the database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import DataExport, Event, ExportStatus, User
from app.services.accounts import api_tokens, export
from app.tasks.exports import expire_exports
from tests.clock import Clock
from tests.export_support import open_zip
from tests.sync_rows import make_images

SITE = "http://localhost"
PAGE = "/settings/data"


@pytest.fixture
def site(app):
    app.config["PUBLIC_URL"] = SITE
    yield
    app.config["PUBLIC_URL"] = None


@pytest.fixture
def clock(monkeypatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr(export, "utcnow", lambda: moved.now)
    return moved


def _bearer(user, scopes=("read",)) -> dict[str, str]:
    _, raw = api_tokens.create_token(user, "export script", scopes=list(scopes))
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def _exports(user_id: int) -> list[DataExport]:
    return list(db.session.scalars(select(DataExport).where(DataExport.user_id == user_id)))


def test_settings_links_to_the_page_which_offers_the_download_button(client, pat):
    assert f'href="{PAGE}"' in client.get("/settings").text
    page = client.get(PAGE)
    assert page.status_code == 200
    assert "Download your data" in page.text
    assert 'hx-post="/settings/data/exports"' in page.text
    assert 'hx-trigger="every 2s"' not in page.text  # nothing running: no polling


def test_asking_twice_while_one_is_being_prepared_gives_the_first_one_back(client, pat):
    first = client.post("/settings/data/exports", headers={"HX-Request": "true"})
    assert first.status_code == 202
    assert "being prepared" in first.text and "waiting to be built" in first.text
    assert 'hx-trigger="every 2s"' in first.text  # the section polls while it runs
    assert "<html" not in first.text  # htmx gets the section only

    second = client.post("/settings/data/exports", headers={"HX-Request": "true"})
    assert second.status_code == 409
    assert "already being prepared" in second.text
    assert [row.status for row in _exports(pat.id)] == [ExportStatus.QUEUED]
    assert "Download your data</button>" not in client.get(PAGE).text


def test_the_database_refuses_a_second_running_export(app, make_user):
    user = make_user()
    db.session.add(DataExport(user_id=user.id, status=ExportStatus.BUILDING))
    db.session.commit()
    db.session.add(DataExport(user_id=user.id, status=ExportStatus.QUEUED))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    # finished ones do not count
    db.session.add(DataExport(user_id=user.id, status=ExportStatus.READY))
    db.session.add(DataExport(user_id=user.id, status=ExportStatus.FAILED))
    db.session.commit()


def test_a_request_racing_past_the_check_gets_the_winners_export(app, make_user, monkeypatch):
    user = make_user()
    # The other request inserted and committed between our check and our insert.
    with db.engine.begin() as conn:
        conn.execute(DataExport.__table__.insert().values(user_id=user.id, status="queued"))
    checks = iter([None])
    real_running = export.running
    monkeypatch.setattr(export, "running", lambda uid: next(checks, None) or real_running(uid))
    with pytest.raises(export.ExportRunning) as raced:
        export.request_export(user)
    assert raced.value.export.user_id == user.id
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(DataExport)) == 1


def test_when_ready_the_mail_and_the_bell_link_to_a_download_only_the_owner_gets(
    app, client, pat, make_user, run_jobs, site, mail_sink, clock, login
):
    make_images(pat, run_jobs)
    assert client.post("/settings/data/exports").status_code == 202
    run_jobs()  # build, then tell (notice + mail)
    (row,) = _exports(pat.id)
    assert row.status is ExportStatus.READY and row.bytes > 0
    assert (row.expires_at - row.finished_at).days == app.config["EXPORT_RETENTION_DAYS"] == 7

    mail = mail_sink.last("pat@example.com")
    assert mail["Subject"] == "Your Linkarooie data export is ready"
    link = mail_sink.link(mail, f"/settings/data/exports/{row.id}/download")
    assert mail_sink.link(mail, "/download", path_only=False).startswith(SITE + "/")
    (notice,) = db.session.scalars(select(Event).where(Event.type == "export.ready")).all()
    assert notice.user_id == pat.id and notice.data["export_id"] == row.id
    listed = client.get("/notifications").text
    assert "Your data export is ready" in listed and link in listed

    page = client.get(PAGE).text
    assert link in page and "ready" in page and "Download your data" in page

    answer = client.get(link)
    assert answer.status_code == 200
    assert answer.mimetype == "application/zip"
    assert "attachment" in answer.headers["Content-Disposition"]
    assert answer.headers["Cache-Control"] == "private, no-store"
    assert answer.data == app.extensions["storage"].get(row.storage_key)
    assert "data/users.json" in open_zip(answer.data).namelist()

    client.post("/sign-out")
    assert client.get(link).status_code == 302  # signed out: sign in first
    login(make_user(email="sam@example.com", name="Sam"))
    assert client.get(link).status_code == 404  # someone else's: as if it did not exist

    client.post("/sign-out")
    login(db.session.get(User, pat.id))
    clock.move(days=7, seconds=1)
    gone = client.get(link)
    assert gone.status_code == 410
    assert "expired" in gone.text and "<html" in gone.text  # a readable page


def test_the_periodic_sweep_deletes_expired_zips_and_marks_them(app, client, pat, run_jobs, clock):
    client.post("/settings/data/exports")
    run_jobs()
    (row,) = _exports(pat.id)
    key, row_id = row.storage_key, row.id
    storage = app.extensions["storage"]
    assert storage.exists(key)

    assert expire_exports() == 0  # not yet
    clock.move(days=7, minutes=1)
    assert expire_exports() == 1
    row = db.session.get(DataExport, row_id)
    assert row.status is ExportStatus.EXPIRED and row.storage_key is None
    assert not storage.exists(key)
    assert expire_exports() == 0
    page = client.get(PAGE).text
    assert "expired" in page and "/download" not in page
    assert client.get(f"/settings/data/exports/{row_id}/download").status_code == 410


def test_a_failed_build_says_so_and_another_can_be_asked_for(
    app, client, pat, run_jobs, monkeypatch
):
    storage = app.extensions["storage"]

    def refuse(*args, **kwargs):
        raise OSError("storage is full")

    monkeypatch.setattr(storage, "put_file", refuse)
    client.post("/settings/data/exports")
    run_jobs()
    (row,) = _exports(pat.id)
    assert row.status is ExportStatus.FAILED and "went wrong" in row.error
    page = client.get(PAGE).text
    assert "Your latest export failed" in page and "storage is full" not in page
    assert client.get(f"/settings/data/exports/{row.id}/download").status_code == 409
    monkeypatch.undo()
    assert client.post("/settings/data/exports").status_code == 202


def test_the_api_asks_once_reports_status_and_downloads_with_a_read_token(
    app, client, make_user, run_jobs, clock
):
    pat = make_user(email="pat@example.com")
    auth = _bearer(pat)  # read only: an export only reads
    started = client.post("/api/v1/export", headers=auth)
    assert started.status_code == 202
    body = started.json
    assert body["status"] == "queued" and body["download_url"] is None
    assert started.headers["Location"] == f"/api/v1/export/{body['id']}"

    again = client.post("/api/v1/export", headers=auth)
    assert again.status_code == 409
    assert again.json["code"] == "export_running" and again.json["id"] == body["id"]

    run_jobs()
    status = client.get(f"/api/v1/export/{body['id']}", headers=auth).json
    assert status["status"] == "ready" and status["bytes"] > 0 and status["expires_at"]
    assert status["download_url"] == f"/api/v1/export/{body['id']}/download"
    zipped = client.get(status["download_url"], headers=auth)
    assert zipped.status_code == 200 and zipped.mimetype == "application/zip"
    assert len(zipped.data) == status["bytes"]

    sam = make_user(email="sam@example.com")
    theirs = _bearer(sam)
    assert client.get(f"/api/v1/export/{body['id']}", headers=theirs).status_code == 404
    assert client.get(status["download_url"], headers=theirs).status_code == 404

    clock.move(days=8)
    gone = client.get(status["download_url"], headers=auth)
    assert gone.status_code == 410 and gone.json["code"] == "export_expired"
    assert client.get(f"/api/v1/export/{body['id']}", headers=auth).json["download_url"] is None
