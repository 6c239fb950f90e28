"""Deleting an account (issue 13): after deletion a scan of every table and of the bucket finds
nothing of the person; another person who uploaded the same bytes keeps their files.

The scan is generic: it reflects the database (every table, whoever added it) and lists the
whole bucket (or the local storage directory on the embedded profile). The data is made the way
the product makes it: processed images, a Mastodon and an X account on the loopback peers whose
tokens get revoked, a release, a schedule, a webhook with a delivery, analytics, notifications,
an API token, sessions, an OAuth identity, a pending mail, a drift thumbnail.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import MetaData, select

from app.extensions import db
from app.jobs import enqueue
from app.models import AuditLog, Image, NotificationPreference, OAuthIdentity, PlatformApp, User
from app.models.analytics import FollowerCount
from app.models.platform import AccountSlot
from app.models.profile import HandleRedirect
from app.services.accounts import api_tokens, deletion, users
from app.services.analytics import recorder, rollup_day
from app.services.images import cleanup
from app.services.images.keys import owner_key_for
from app.services.notifications import events
from app.services.ops import jobs as ops_jobs
from app.services.ops import users as people
from app.services.sync import schedules
from app.services.webhooks import endpoints
from tests.conftest import DEFAULT_PASSWORD
from tests.services.test_x_adapter import configure, connect_x
from tests.sync_rows import make_release
from tests.sync_support import connect_mastodon, ready_images
from tests.web.test_public_page import make_profile

PAT_EMAIL, PAT_NAME = "patricia.deleteme@example.com", "Patricia Deleteme"
PAT_HANDLE, PAT_DISPLAY, PAT_OLD_HANDLE = "PatDel", "Patricia Q Zyxwv", "patdelold"
PAT_NEW_EMAIL = "patricia.next@example.com"  # asked for, never confirmed: still theirs


@pytest.fixture(autouse=True)
def _mail_to_the_sink(mail_sink):
    """Every deletion mails the person: to the loopback SMTP sink, never into instance/mail."""
    return mail_sink


# ---- the generic scans --------------------------------------------------------------------


def reflected() -> MetaData:
    meta = MetaData()
    meta.reflect(bind=db.engine)
    return meta


def owned_values(meta: MetaData, user_id: int) -> dict[tuple[str, str], set[Any]]:
    """(table, column) → the values that identify the person's rows there, following every
    foreign key from users.id transitively (the person's images, their variants, …)."""
    owned: dict[tuple[str, str], set[Any]] = {("users", "id"): {user_id}}
    referenced = {(fk.column.table.name, fk.column.name) for t in meta.tables.values()
                  for fk in t.foreign_keys}  # fmt: skip
    changed = True
    while changed:
        changed = False
        for table in meta.tables.values():
            for fk in table.foreign_keys:
                values = owned.get((fk.column.table.name, fk.column.name))
                if not values:
                    continue
                rows = db.session.execute(
                    select(table).where(fk.parent.in_(list(values)))
                ).mappings()
                for row in rows:
                    for t_name, column in referenced:
                        if t_name == table.name and row[column] is not None:
                            key = (table.name, column)
                            if row[column] not in owned.setdefault(key, set()):
                                owned[key].add(row[column])
                                changed = True
    return owned


def rows_pointing_at(meta: MetaData, owned: dict[tuple[str, str], set[Any]]) -> list[str]:
    found = []
    for table in meta.tables.values():
        for fk in table.foreign_keys:
            values = owned.get((fk.column.table.name, fk.column.name))
            if values:
                count = len(
                    db.session.execute(select(table).where(fk.parent.in_(list(values)))).all()
                )
                if count:
                    found.append(f"{table.name}.{fk.parent.name}: {count} row(s)")
    return found


def rows_mentioning(meta: MetaData, needles: list[str]) -> list[str]:
    """Every text/JSON value in every table that contains one of `needles` (any case)."""
    lowered = [n.lower() for n in needles]
    found = []
    for table in meta.tables.values():
        for row in db.session.execute(select(table)).mappings():
            for column, value in row.items():
                if value is None or isinstance(value, (int, float, bool, datetime, date)):
                    continue
                text = (
                    json.dumps(value, ensure_ascii=False)
                    if isinstance(value, (dict, list))
                    else str(value)
                ).lower()
                for needle in lowered:
                    if needle in text:
                        found.append(f"{table.name}.{column} holds {needle!r}: {text[:120]}")
    return found


def stored_keys(app) -> set[str]:
    """Every object in the bucket, or every file under the local storage root."""
    storage = app.extensions["storage"]
    client = getattr(storage, "client", None)
    if client is not None:
        keys = set()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket):
            keys.update(obj["Key"] for obj in page.get("Contents", []))
        return keys
    root = Path(app.config["LOCAL_STORAGE_ROOT"])
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def file_keys_of(user_id: int) -> set[str]:
    return {key for finder in deletion.STORED_FILE_FINDERS for key in finder(user_id)}


# ---- realistic data ---------------------------------------------------------------------------


def mastodon_app(fake) -> None:
    """Our OAuth client on the fake instance, as the connect flow registers it."""
    registered = requests.post(
        f"{fake.url}/api/v1/apps",
        data={
            "client_name": "Linkarooie",
            "redirect_uris": "http://localhost/cb",
            "scopes": "read write",
        },
        timeout=5,
    ).json()
    db.session.add(
        PlatformApp(
            platform="mastodon",
            instance_url=fake.url,
            redirect_uri="http://localhost/cb",
            client_id=registered["client_id"],
            client_secret=registered["client_secret"],
        )
    )
    db.session.commit()


def build_person(app, run_jobs, make_user, fake_mastodon, fake_x, receiver) -> dict[str, Any]:
    pat = make_user(email=PAT_EMAIL, name=PAT_NAME, admin=True)
    sam = make_user(email="sam@example.com", name="Sam", admin=True)
    people.make_admin(sam, pat)  # sam's audit row names pat (by=pat's email); harmless re-grant
    audit_by_pat = AuditLog(event="admin_granted", user_id=sam.id, details={"by": PAT_EMAIL})
    db.session.add(audit_by_pat)
    db.session.commit()
    pat_images = ready_images(pat, run_jobs, seed=7)
    sam_images = ready_images(sam, run_jobs, seed=7)  # the very same bytes
    make_profile(pat, handle=PAT_HANDLE, display_name=PAT_DISPLAY)
    db.session.add(
        HandleRedirect(
            handle_key=PAT_OLD_HANDLE,
            user_id=pat.id,
            expires_at=datetime.now(UTC) + timedelta(days=9),
        )
    )
    mastodon_app(fake_mastodon)
    mastodon = connect_mastodon(pat, fake_mastodon)
    x = connect_x(pat, fake_x)
    mastodon_token, x_token = mastodon.access_token, x.access_token
    thumb = b"their picture, as a thumbnail"
    drift_key = owner_key_for("drift/", pat.id, thumb, "jpg")
    app.extensions["storage"].put(drift_key, thumb, "image/jpeg")
    db.session.add(
        AccountSlot(
            account_id=mastodon.id,
            slot="avatar",
            sha256="0" * 64,
            pushed_at=datetime.now(UTC),
            live_key=drift_key,
            drift_status="changed",
        )
    )
    release = make_release(pat, mastodon, avatar=pat_images[0], banner=pat_images[1])
    schedule = schedules.create(
        pat,
        avatar_id=pat_images[0].id,
        banner_id=None,
        profile=False,
        at=datetime.now(UTC) + timedelta(days=2),
    )
    endpoints.create(pat, receiver.url + "/hooks/pat", ["release.completed"])
    events.emit(pat.id, "release.completed", release_id=1)
    db.session.add(NotificationPreference(user_id=pat.id, type="release.completed", email=False))
    db.session.add(
        OAuthIdentity(
            user_id=pat.id,
            provider="google",
            subject="google-sub-of-patricia",
            email=PAT_EMAIL,
            linked_at=datetime.now(UTC),
        )
    )
    _, raw_token = api_tokens.create_token(pat, "Patricia's deploy script")
    app.config["PUBLIC_URL"] = "http://localhost"  # the mail's link needs a site
    try:
        users.request_email_change(pat, PAT_NEW_EMAIL, DEFAULT_PASSWORD, reauthenticated=True)
    finally:
        app.config["PUBLIC_URL"] = None
    recorder().add("page_view", pat.id, visitor="v1", bot=False, referrer="news.example")
    recorder().add("page_view", sam.id, visitor="v2", bot=False, referrer="news.example")
    db.session.commit()
    db.session.add(FollowerCount(account_id=mastodon.id, day=date.today(), count=12))
    enqueue("flush_analytics")
    run_jobs()  # the webhook delivery goes out, the analytics land, the mail is sent
    rollup_day(datetime.now(UTC).date())
    db.session.commit()
    # Still queued or buffered when the account goes: must come to nothing, not crash.
    recorder().add("page_view", pat.id, visitor="v3", bot=False, referrer=None)
    return {
        "pat": db.session.get(User, pat.id),
        "sam": db.session.get(User, sam.id),
        "pat_images": [i.id for i in pat_images],
        "task_id": release.tasks[0].id,
        "schedule_id": schedule.id,
        "sam_images": [i.id for i in sam_images],
        "secrets": [raw_token, mastodon_token, x_token],
        "mastodon_token": mastodon_token,
        "x_token": x_token,
    }


@pytest.fixture
def x_site(app, fake_x):
    """This site configured for the loopback X."""
    with configure(
        app,
        X_CLIENT_ID=fake_x.consumer_key,
        X_CLIENT_SECRET=fake_x.consumer_secret,
        X_API_BASE_URL=fake_x.url,
        X_AUTH_BASE_URL=fake_x.url,
    ):
        yield fake_x


@pytest.fixture
def person(app, run_jobs, make_user, fake_mastodon, x_site, webhook_receiver, mail_sink):
    return build_person(app, run_jobs, make_user, fake_mastodon, x_site, webhook_receiver)


def confirm_identity(client) -> None:
    response = client.post(
        "/confirm-identity", data={"password": DEFAULT_PASSWORD, "next": "/settings/delete-account"}
    )
    assert response.status_code == 302


# ---- the acceptance test ------------------------------------------------------------------


def test_nothing_of_the_person_is_left_and_the_other_persons_files_stay(
    app,
    client,
    login,
    run_jobs,
    person,
    fake_mastodon,
    x_site,
    mail_sink,
    webhook_receiver,
):
    pat, sam = person["pat"], person["sam"]
    pat_id, sam_id = pat.id, sam.id
    login(pat)  # a session row, and the recent sign-in deleting asks for
    meta = reflected()
    owned = owned_values(meta, pat_id)
    before = rows_pointing_at(meta, owned)
    assert len({line.split(".")[0] for line in before}) >= 22, f"too thin a data set: {before}"
    # The bucket holds Pat's and Sam's files and nothing else: whatever is not Sam's is Pat's,
    # however it got there (so a kind of file the deletion does not know about is caught).
    sam_files = file_keys_of(sam_id)
    sams = {obj for obj in stored_keys(app) if any(key in obj for key in sam_files)}
    pats = stored_keys(app) - sams
    assert len(sams) > 10 and len(pats) > len(sams)  # Pat has a drift thumbnail too
    # Jobs touching the person that are still queued when the account goes.
    enqueue("process_image", person["pat_images"][0])
    enqueue("deliver_webhook", 1)
    enqueue("run_sync_task", person["task_id"])
    enqueue("run_schedule", person["schedule_id"])
    mail_sink.clear()

    response = client.post("/settings/delete-account", data={"confirm_text": "@patdel"})

    assert response.status_code == 200, response.text
    assert "Goodbye" in response.text
    run_jobs()
    enqueue("flush_analytics")
    run_jobs()
    db.session.expire_all()
    failed, _count = ops_jobs.reader().failed()
    assert failed == [], [f"{f.description}: {f.error}" for f in failed]

    # Rows: nothing points at the person's rows, nothing names them.
    assert rows_pointing_at(reflected(), owned) == []
    needles = [PAT_EMAIL, PAT_NAME, PAT_HANDLE, PAT_DISPLAY, PAT_OLD_HANDLE, PAT_NEW_EMAIL,
               *person["secrets"]]  # fmt: skip
    assert rows_mentioning(reflected(), needles) == []
    # Files: none of theirs, all of Sam's (the same bytes, stored under Sam's own keys).
    assert stored_keys(app) & pats == set()
    assert stored_keys(app) == sams
    for image_id in person["sam_images"]:
        image = db.session.get(Image, image_id)
        assert app.extensions["storage"].get(image.original_key)

    # The platforms were told.
    assert fake_mastodon.tokens[person["mastodon_token"]].revoked
    assert x_site.access_tokens[person["x_token"]].revoked

    # The audit log: unlinked, hashed, one entry saying it happened.
    subject = deletion.subject_hash(PAT_EMAIL)
    [entry] = db.session.scalars(select(AuditLog).where(AuditLog.event == "account_deleted"))
    assert entry.subject_hash == subject and entry.user_id is None
    assert entry.details["by"] == "self"
    assert sorted(entry.details["platforms_revoked"]) == ["mastodon", "x"]
    assert entry.details["platforms_revoke_failed"] == []
    theirs = db.session.scalars(select(AuditLog).where(AuditLog.subject_hash == subject)).all()
    assert {e.event for e in theirs} >= {"sign_up", "sign_in", "email_change_requested"}
    change = next(e for e in theirs if e.event == "email_change_requested")
    assert change.details["new_email"] == "hmac:" + deletion.subject_hash(PAT_NEW_EMAIL)
    granted = db.session.scalars(
        select(AuditLog).where(AuditLog.event == "admin_granted", AuditLog.user_id == sam_id)
    ).all()
    assert granted and all(e.details["by"] == "hmac:" + subject for e in granted)

    # Signed out, their tokens dead, their handle free, the page gone, the mail sent.
    assert client.get("/settings").status_code == 302
    api = client.get("/api/v1/me", headers={"Authorization": f"Bearer {person['secrets'][0]}"})
    assert api.status_code == 401
    assert client.get(f"/@{PAT_HANDLE}").status_code == 404
    message = mail_sink.last(to=PAT_EMAIL)
    assert "deleted" in message["Subject"]
    assert "pictures on your platforms stay" in mail_sink.text(message)
    # Sam is untouched.
    assert db.session.get(User, sam_id) is not None
    assert db.session.scalar(select(AuditLog.id).where(AuditLog.user_id == sam_id)) is not None


def test_the_handle_can_be_taken_again(app, client, login, make_user):
    pat = make_user(email=PAT_EMAIL, name=PAT_NAME)
    make_profile(pat, handle=PAT_HANDLE)
    login(pat)
    assert (
        client.post("/settings/delete-account", data={"confirm_text": PAT_HANDLE}).status_code
        == 200
    )
    other = make_user(email="newcomer@example.com", name="Newcomer")
    make_profile(other, handle=PAT_HANDLE.upper())
    assert client.get(f"/@{PAT_HANDLE}").status_code == 200


# ---- the page's guards --------------------------------------------------------------------


def test_deleting_needs_a_recent_sign_in(app, client, login, make_user):
    pat = make_user(email=PAT_EMAIL, name=PAT_NAME)
    login(pat)
    with client.session_transaction() as session:
        session.pop("auth_at", None)  # signed in long ago (a remembered session)
    page = client.get("/settings/delete-account")
    assert page.status_code == 200 and "Confirm it is you" in page.text
    assert 'href="/settings/data"' in page.text  # export first
    response = client.post("/settings/delete-account", data={"confirm_text": PAT_EMAIL})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/confirm-identity?next=")
    assert db.session.get(User, pat.id) is not None
    confirm_identity(client)
    assert (
        client.post("/settings/delete-account", data={"confirm_text": PAT_EMAIL}).status_code == 200
    )
    db.session.expire_all()
    assert db.session.get(User, pat.id) is None


def test_a_wrong_handle_deletes_nothing(app, client, login, make_user):
    pat = make_user(email=PAT_EMAIL, name=PAT_NAME)
    make_profile(pat, handle=PAT_HANDLE)
    login(pat)
    for typed in (PAT_EMAIL, "PatDe", ""):  # with a handle, the handle is what counts
        response = client.post("/settings/delete-account", data={"confirm_text": typed})
        assert response.status_code == 422
        assert 'aria-invalid="true"' in response.text
    assert "That is not “PatDel”" in response.text or "Type it" in response.text
    db.session.expire_all()
    assert db.session.get(User, pat.id) is not None
    assert client.get("/settings").status_code == 200  # still signed in


def test_a_platform_that_is_down_does_not_stop_the_deletion(
    app, client, login, make_user, fake_mastodon, mail_sink
):
    pat = make_user(email=PAT_EMAIL, name=PAT_NAME)
    mastodon_app(fake_mastodon)
    account = connect_mastodon(pat, fake_mastodon)
    token = account.access_token
    fake_mastodon.stop()  # nobody answers on that port any more
    login(pat)
    response = client.post("/settings/delete-account", data={"confirm_text": PAT_EMAIL})
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(User, pat.id) is None
    [entry] = db.session.scalars(select(AuditLog).where(AuditLog.event == "account_deleted"))
    assert entry.details["platforms_revoke_failed"] == ["mastodon"]
    assert not fake_mastodon.tokens[token].revoked
    assert mail_sink.last(to=PAT_EMAIL)


def test_a_slow_platform_is_given_up_on_quickly(app, client, login, make_user, fake_mastodon):
    pat = make_user(email=PAT_EMAIL, name=PAT_NAME)
    mastodon_app(fake_mastodon)
    connect_mastodon(pat, fake_mastodon)
    fake_mastodon.chaos(fault_rate=0, latency=(3, 3))  # every answer takes 3 s
    app.config["ACCOUNT_DELETION_REVOKE_TIMEOUT"] = 0.5
    login(pat)
    started = time.monotonic()
    try:
        response = client.post("/settings/delete-account", data={"confirm_text": PAT_EMAIL})
    finally:
        app.config["ACCOUNT_DELETION_REVOKE_TIMEOUT"] = 5
    assert response.status_code == 200
    assert time.monotonic() - started < 2.5
    [entry] = db.session.scalars(select(AuditLog).where(AuditLog.event == "account_deleted"))
    assert entry.details["platforms_revoke_failed"] == ["mastodon"]


def test_the_last_admin_cannot_delete_their_account(app, client, login, make_user):
    admin = make_user(email="only-admin@example.com", name="Ada", admin=True)
    login(admin)
    response = client.post("/settings/delete-account", data={"confirm_text": admin.email})
    assert response.status_code == 409
    assert "last admin" in response.text
    db.session.expire_all()
    assert db.session.get(User, admin.id) is not None


# ---- admins ---------------------------------------------------------------------------------


def test_an_admin_deletes_a_user_and_it_is_audited(app, client, login, make_user, mail_sink):
    admin = make_user(email="admin@example.com", name="Ada", admin=True)
    pat = make_user(email=PAT_EMAIL, name=PAT_NAME)
    pat_id = pat.id
    login(admin)
    listing = client.get("/admin/users")
    assert f"/admin/users/{pat_id}/delete" in listing.text
    assert f"/admin/users/{admin.id}/delete" not in listing.text
    page = client.get(f"/admin/users/{pat_id}/delete")
    assert page.status_code == 200 and PAT_EMAIL in page.text
    wrong = client.post(f"/admin/users/{pat_id}/delete", data={"confirm_text": "nope"})
    assert wrong.status_code == 422
    response = client.post(f"/admin/users/{pat_id}/delete", data={"confirm_text": PAT_EMAIL})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, pat_id) is None
    [entry] = db.session.scalars(select(AuditLog).where(AuditLog.event == "account_deleted"))
    assert entry.details["by"] == admin.id
    assert entry.subject_hash == deletion.subject_hash(PAT_EMAIL)
    assert PAT_EMAIL not in json.dumps(entry.details)
    message = mail_sink.last(to=PAT_EMAIL)
    assert "administrator" in mail_sink.text(message)
    assert client.get("/admin/users").status_code == 200  # the admin is still signed in
    log = client.get("/admin/audit")
    assert log.status_code == 200 and "account_deleted" in log.text


def test_admins_cannot_delete_themselves_or_the_last_admin(app, client, login, make_user):
    admin = make_user(email="admin@example.com", name="Ada", admin=True)
    login(admin)
    own = client.post(f"/admin/users/{admin.id}/delete", data={"confirm_text": admin.email})
    assert own.status_code == 302
    assert db.session.get(User, admin.id) is not None
    followed = client.get("/admin/users")
    assert "Delete your own account from Settings" in followed.text
    # The last admin, deleted by someone who is an admin but then loses the role meanwhile:
    # the service refuses, whoever asks.
    other = make_user(email="other-admin@example.com", name="Bo", admin=True)
    people.revoke_admin(admin, other)
    db.session.commit()
    with pytest.raises(deletion.Conflict):
        deletion.delete_account(db.session.get(User, other.id), None)
    db.session.rollback()


def test_a_user_who_is_not_an_admin_cannot_reach_the_admin_deletion(app, client, login, make_user):
    pat = make_user(email=PAT_EMAIL, name=PAT_NAME)
    victim = make_user(email="victim@example.com", name="Vic")
    login(pat)
    assert (
        client.post(
            f"/admin/users/{victim.id}/delete", data={"confirm_text": victim.email}
        ).status_code
        == 404
    )
    assert db.session.get(User, victim.id) is not None


def test_the_scan_sees_every_table_of_the_models(app):
    assert {t.name for t in db.metadata.sorted_tables} <= set(reflected().tables)


class RefusingDeletes:
    """The app's storage, except that deleting fails (a storage outage mid-deletion)."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def delete(self, key: str) -> None:
        raise ConnectionError("storage is down")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_files_left_by_a_storage_outage_are_swept_later(app, client, login, make_user, run_jobs):
    pat = make_user(email=PAT_EMAIL, name=PAT_NAME)
    ready_images(pat, run_jobs)
    keys = file_keys_of(pat.id)
    login(pat)
    real = app.extensions["storage"]
    app.extensions["storage"] = RefusingDeletes(real)
    try:
        response = client.post("/settings/delete-account", data={"confirm_text": PAT_EMAIL})
    finally:
        app.extensions["storage"] = real
    assert response.status_code == 200  # the account is gone all the same
    db.session.expire_all()
    assert db.session.get(User, pat.id) is None
    assert keys and all(any(k in obj for obj in stored_keys(app)) for k in keys)
    swept = cleanup.sweep_orphans(datetime.now(UTC) + timedelta(minutes=1))
    assert set(swept) == keys
    assert stored_keys(app) == set()
