"""Row-level security in PostgreSQL: the database shows a request only its person's rows, even
when a query forgets its ownership filter. The tests connect as the role the app uses in
production, the database's owner (not a superuser), which FORCE ROW LEVEL SECURITY binds too."""

from __future__ import annotations

import io

import psycopg
import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.infra import row_security
from app.models import Image, User
from app.models.image import ImageKind
from app.services.accounts import api_tokens
from tests.images import avatar_jpeg

pytestmark = pytest.mark.services

ROW_TABLES_WITHOUT_A_PERSON = {"platform_apps", "analytics_salts", "alembic_version"}


def _tables_reaching_users() -> set[str]:
    """Every table whose rows lead to a person through foreign keys, read from the schema."""
    reaching = {"users"}
    grew = True
    while grew:
        grew = False
        for table in db.metadata.sorted_tables:
            if table.name in reaching:
                continue
            if any(fk.column.table.name in reaching for fk in table.foreign_keys):
                reaching.add(table.name)
                grew = True
    return reaching


def _raw(app, sql: str, *settings: str):
    """A fresh connection as the app's role, outside SQLAlchemy (and its scoping)."""
    dsn = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        for statement in settings:
            conn.execute(statement)
        return conn.execute(sql).fetchall()


def _upload(client, token: str, seed: int) -> None:
    response = client.post(
        "/api/v1/images",
        data={"kind": "avatar", "file": (io.BytesIO(avatar_jpeg(seed=seed)), "a.jpg")},
        headers={"Authorization": f"Bearer {token}"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()


@pytest.fixture
def two_people(app, client, make_user, run_jobs):
    ana, bo = make_user(email="ana@example.com"), make_user(email="bo@example.com")
    tokens = {}
    for person, seeds in ((ana, (1, 2)), (bo, (3,))):
        tokens[person.email] = api_tokens.create_token(person, "t")[1]
        db.session.commit()
        for seed in seeds:
            _upload(client, tokens[person.email], seed)
    run_jobs()
    return ana, bo, tokens


def test_the_app_role_is_bound_by_the_policies(app):
    role = _raw(app, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
    assert role == [(False, False)]  # a superuser or BYPASSRLS role would skip every policy
    owners = _raw(app, "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'")
    assert owners == _raw(app, "SELECT current_user")  # the app's role owns the tables


def test_every_table_that_leads_to_a_person_is_protected_and_forced(app):
    flags = dict(
        (name, (enabled, forced))
        for name, enabled, forced in _raw(
            app,
            "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace",
        )
    )
    reaching = _tables_reaching_users()
    assert reaching - flags.keys() == set()
    unprotected = sorted(t for t in reaching if flags[t] != (True, True))
    assert unprotected == [], "add the table to migrations' row-level security policies"
    assert set(flags) - reaching <= ROW_TABLES_WITHOUT_A_PERSON


def test_an_api_query_without_its_owner_filter_still_shows_only_the_callers_images(
    app, client, two_people, monkeypatch
):
    ana, bo, tokens = two_people

    def everyones_images(cls, user_id, kind=None):  # the ownership filter, forgotten
        query = select(cls)
        if kind is not None:
            query = query.where(cls.kind == ImageKind(kind))
        return query.order_by(cls.created_at.desc(), cls.id.desc())

    monkeypatch.setattr(Image, "owned_by", classmethod(everyones_images))
    for person, expected in ((ana, 2), (bo, 1), (ana, 2)):
        response = client.get(
            "/api/v1/images", headers={"Authorization": f"Bearer {tokens[person.email]}"}
        )
        assert response.status_code == 200
        images = response.get_json()
        assert len(images) == expected
        owners = db.session.scalars(
            select(Image.user_id).where(Image.id.in_([i["id"] for i in images]))
        ).all()
        assert set(owners) == {person.id}
    assert db.session.scalar(select(db.func.count()).select_from(Image)) == 3  # tests bypass


def test_a_signed_in_page_without_its_owner_filter_shows_only_that_persons_images(
    app, client, two_people, login, monkeypatch
):
    ana, bo, _ = two_people
    monkeypatch.setattr(Image, "owned_by", classmethod(lambda cls, user_id, kind=None: select(cls)))
    login(bo)
    page = client.get("/images").get_data(as_text=True)
    bo_ids = db.session.scalars(select(Image.id).where(Image.user_id == bo.id)).all()
    ana_ids = db.session.scalars(select(Image.id).where(Image.user_id == ana.id)).all()
    assert all(f'id="image-{i}"' in page for i in bo_ids)
    assert not any(f'id="image-{i}"' in page for i in ana_ids)


def test_scopes_inside_one_session(app, two_people):
    ana, bo, _ = two_people
    count = select(db.func.count()).select_from(Image)
    with row_security.as_user(ana.id):
        assert db.session.scalar(count) == 2
        assert db.session.scalars(select(User.email)).all() == ["ana@example.com"]
        with row_security.bypass("test: a sweep"):
            assert db.session.scalar(count) == 3
        assert db.session.scalar(count) == 2
    with row_security.as_user(bo.id):
        assert db.session.scalar(count) == 1
    row_security.act_as(None)
    with row_security.as_user(0):
        assert db.session.scalar(count) == 0  # nobody's rows


def test_writing_a_row_for_someone_else_is_refused(app, two_people):
    ana, bo, _ = two_people
    theirs = db.session.scalars(select(Image).where(Image.user_id == bo.id)).first()
    their_id, ana_id, bo_id = theirs.id, ana.id, bo.id
    db.session.commit()
    with row_security.as_user(ana_id):
        db.session.execute(text("UPDATE images SET filename = 'x' WHERE id = :i"), {"i": their_id})
        db.session.commit()  # matched nothing: Bo's row is invisible to Ana
        with pytest.raises(Exception, match="row-level security"):
            db.session.execute(
                text("UPDATE images SET user_id = :bo WHERE user_id = :ana"),
                {"bo": bo_id, "ana": ana_id},
            )
        db.session.rollback()
    db.session.refresh(theirs)
    assert theirs.filename != "x"


def test_a_connection_outside_the_app_sees_nothing_without_saying_why(app, two_people):
    assert _raw(app, "SELECT count(*) FROM images") == [(0,)]
    assert _raw(app, "SELECT count(*) FROM users") == [(0,)]
    # The operator's way in (README): a bypass of their own session, stated.
    assert _raw(app, "SELECT count(*) FROM images", "SET app.bypass = 'on'") == [(3,)]


def test_a_request_leaves_no_scope_on_the_pooled_connection(app, client, two_people):
    _, bo, tokens = two_people
    client.get("/api/v1/images", headers={"Authorization": f"Bearer {tokens[bo.email]}"})
    db.session.remove()
    # Straight from the pool, past the event that scopes new transactions: a session-level
    # setting would still carry Bo's id here; a transaction-level one is gone.
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT current_setting('app.user_id', true)")
        assert cursor.fetchone()[0] in (None, "")
        raw.rollback()
    finally:
        raw.close()


def test_the_admin_page_says_row_level_security_is_on(app, client, make_user, login):
    login(make_user(email="root@example.com", admin=True))
    page = client.get("/admin/sections/checks").get_data(as_text=True)
    assert 'data-row-security="enforced"' in page
    assert "Enforced for linkarooie_owner" in page
