"""The admin Users page (search, sign-in methods, platforms, make/revoke admin) and the audit log
view (filters by user, action and dates)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from app.extensions import db
from app.models import AccountStatus, AuditLog, OAuthIdentity, Role, User
from app.services.accounts import audit
from app.services.exceptions import Conflict
from app.services.images import library
from app.services.ops import users as people
from tests.images import avatar_jpeg
from tests.sync_rows import make_account
from tests.web.test_bad_input import BAD_QUERY


@pytest.fixture
def admin(make_user):
    return make_user(email="root@example.com", name="Root", admin=True)


def rows(html: str) -> list[str]:
    return re.findall(r'<tr data-user="([^"]+)"', html)


def role_of(email: str) -> Role:
    db.session.expire_all()
    return db.session.scalar(select(User.role).where(User.email == email))


def test_people_who_are_not_admins_get_404_and_change_nothing(client, login, make_user, admin):
    pat = make_user(email="pat@example.com")
    login(pat)
    for url in ("/admin/users", "/admin/users?q=root", "/admin/audit", "/admin/audit?user=x"):
        assert client.get(url).status_code == 404
    assert client.post(f"/admin/users/{pat.id}/admin").status_code == 404
    assert client.post(f"/admin/users/{admin.id}/admin/revoke").status_code == 404
    assert role_of("pat@example.com") is Role.USER
    assert role_of("root@example.com") is Role.ADMIN
    assert db.session.scalar(select(AuditLog).where(AuditLog.event.like("admin_%"))) is None


def test_the_list_shows_how_people_sign_in_and_what_they_connected_never_their_images(
    client, login, make_user, admin
):
    pat = make_user(email="pat@example.com", name="Pat Smith")
    make_account(pat, handle="@pat@masto.example")
    make_account(
        pat,
        platform="bluesky",
        handle="pat.bsky.social",
        instance_url="https://bsky.example",
        status=AccountStatus.EXPIRED,
    )
    library.create_upload(pat.id, "avatar", avatar_jpeg(), "secret-holiday.jpg")
    oauth_only = make_user(email="gh@example.com", password=None, name="Hub")
    db.session.add(
        OAuthIdentity(
            user_id=oauth_only.id,
            provider="github",
            subject="42",
            linked_at=datetime.now(UTC),
        )
    )
    db.session.commit()
    login(admin)

    html = client.get("/admin/users").get_data(as_text=True)
    assert rows(html) == ["gh@example.com", "pat@example.com", "root@example.com"]  # newest first
    pat_row = re.search(r'<tr data-user="pat@example.com">.*?</tr>', html, re.S).group(0)
    assert "Pat Smith" in pat_row
    assert re.search(r"sign-in-methods-cell\">\s*Password\s*<", pat_row)
    assert "Mastodon" in pat_row and "@pat@masto.example" in pat_row
    assert "Bluesky" in pat_row and 'badge-warn">expired<' in pat_row
    gh_row = re.search(r'<tr data-user="gh@example.com">.*?</tr>', html, re.S).group(0)
    assert re.search(r"sign-in-methods-cell\">\s*GitHub\s*<", gh_row)
    assert "None" in gh_row  # no platforms
    assert "secret-holiday" not in html and "/media/" not in html and "<img" not in html


def test_search_by_email_or_name_any_case_and_pages(client, login, make_user, admin):
    make_user(email="alice@example.com", name="Someone")
    make_user(email="bob@example.com", name="Bob ALICEson")
    make_user(email="carol@example.com", name="Carol")
    make_user(email="under_score@example.com", name="U")
    login(admin)

    found = rows(client.get("/admin/users?q=Alice").get_data(as_text=True))
    assert sorted(found) == ["alice@example.com", "bob@example.com"]
    assert rows(client.get("/admin/users?q=nobody").get_data(as_text=True)) == []
    # LIKE's wildcards are plain characters in a search.
    assert rows(client.get("/admin/users?q=_").get_data(as_text=True)) == [
        "under_score@example.com"
    ]
    assert rows(client.get("/admin/users?q=%25").get_data(as_text=True)) == []

    for n in range(26):
        make_user(email=f"many{n:02}@example.com", name="Many")
    first = client.get("/admin/users?q=many").get_data(as_text=True)
    second = client.get("/admin/users?q=many&page=2").get_data(as_text=True)
    assert len(rows(first)) == 25 and len(rows(second)) == 1
    assert set(rows(first)).isdisjoint(rows(second))
    assert "Page 1 of 2" in first and 'href="/admin/users?page=2&amp;q=many"' in first
    # Hand-edited page numbers: not a number → first page, past the end → the last.
    assert rows(client.get("/admin/users?q=many&page=abc").get_data(as_text=True)) == rows(first)
    last = client.get("/admin/users?q=many&page=999999999999999999999")
    assert last.status_code == 200 and rows(last.get_data(as_text=True)) == rows(second)


def test_make_and_revoke_admin_are_recorded_in_the_audit_log(client, login, make_user, admin):
    pat = make_user(email="pat@example.com")
    login(admin)

    made = client.post(f"/admin/users/{pat.id}/admin", data={"q": "pat", "page": "1"})
    assert made.status_code == 302 and made.location == "/admin/users?q=pat&page=1"
    assert role_of("pat@example.com") is Role.ADMIN
    assert "pat@example.com is now an admin." in client.get(made.location).get_data(as_text=True)

    revoked = client.post(f"/admin/users/{pat.id}/admin/revoke")
    assert revoked.status_code == 302
    assert role_of("pat@example.com") is Role.USER
    page = client.get(revoked.location).get_data(as_text=True)
    assert "pat@example.com is no longer an admin." in page

    events = db.session.execute(
        select(AuditLog.event, AuditLog.user_id, AuditLog.details).order_by(AuditLog.id)
    ).all()
    trail = [(e, u, d) for e, u, d in events if e.startswith("admin_")]
    assert trail == [
        ("admin_granted", pat.id, {"by": "root@example.com"}),
        ("admin_revoked", pat.id, {"by": "root@example.com"}),
    ]
    # Asking twice changes nothing and records nothing more.
    client.post(f"/admin/users/{pat.id}/admin/revoke")
    assert (
        db.session.scalar(
            select(func.count()).select_from(AuditLog).where(AuditLog.event == "admin_revoked")
        )
        == 1
    )
    assert client.post("/admin/users/999999/admin").status_code == 404


def test_an_admin_cannot_revoke_themselves_and_the_last_admin_stays(
    client, login, make_user, admin
):
    login(admin)
    response = client.post(f"/admin/users/{admin.id}/admin/revoke", follow_redirects=True)
    assert response.status_code == 200
    assert "You cannot revoke your own admin role." in response.get_data(as_text=True)
    assert role_of("root@example.com") is Role.ADMIN

    # The service refuses the last admin to anyone else too (say, from the command line).
    root = db.session.get(User, admin.id)
    with pytest.raises(Conflict, match="root@example.com is the last admin"):
        people.revoke_admin(root, by=None)
    db.session.rollback()
    assert role_of("root@example.com") is Role.ADMIN
    assert db.session.scalar(select(AuditLog).where(AuditLog.event == "admin_revoked")) is None

    # With a second admin, the first can go.
    other = make_user(email="other@example.com", admin=True)
    assert people.revoke_admin(db.session.get(User, admin.id), by=other)
    db.session.commit()
    assert role_of("root@example.com") is Role.USER


def _event(event: str, user: User | None, at: datetime, **details) -> None:
    entry = audit.record(event, user, "203.0.113.9", **details)
    entry.created_at = at
    db.session.commit()


def events_on(html: str) -> list[str]:
    return re.findall(r'<tr data-event="([^"]+)"', html)


def test_the_audit_log_filters_by_user_action_and_dates(client, login, make_user, admin):
    pat = make_user(email="pat@example.com")
    sam = make_user(email="sam@example.com")
    db.session.execute(delete(AuditLog))  # sign-ups made by the fixtures
    db.session.commit()
    day = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    _event("sign_in", pat, day - timedelta(days=2))
    _event("password_changed", pat, day)
    _event("sign_in", sam, day + timedelta(hours=11, minutes=59))
    _event("sign_in_failed", None, day + timedelta(days=1), email_hint="x")
    login(admin)  # today: a sign_in for root

    everything = client.get("/admin/audit").get_data(as_text=True)
    assert events_on(everything) == [
        "sign_in",
        "sign_in_failed",
        "sign_in",
        "password_changed",
        "sign_in",
    ]
    assert "(deleted account)" in everything and "email_hint: x" in everything
    assert '<option value="password_changed">' in everything

    by_user = client.get("/admin/audit?user=PAT@").get_data(as_text=True)
    assert events_on(by_user) == ["password_changed", "sign_in"]
    by_action = client.get("/admin/audit?action=sign_in").get_data(as_text=True)
    assert events_on(by_action) == ["sign_in"] * 3
    one_day = client.get("/admin/audit?since=2026-03-10&until=2026-03-10").get_data(as_text=True)
    assert events_on(one_day) == ["sign_in", "password_changed"]  # until is inclusive
    both = client.get("/admin/audit?user=sam&action=sign_in&since=2026-03-10").get_data(
        as_text=True
    )
    assert events_on(both) == ["sign_in"] and "sam@example.com" in both
    assert 'value="2026-03-10"' in both  # the form keeps the filters


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=yesterday", "From date &#39;yesterday&#39; is not a date"),
        ("until=2026-02-30", "To date &#39;2026-02-30&#39; is not a date"),
        ("since=2026-03-10&until=2026-03-01", "The range ends (2026-03-01) before it starts"),
    ],
)
def test_a_bad_date_filter_is_a_400_that_says_why(client, login, admin, query, message):
    login(admin)
    response = client.get(f"/admin/audit?{query}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_odd_but_harmless_audit_filters_are_taken_in_stride(client, login, admin):
    login(admin)
    for query in ("page=abc", "page=-3", "until=9999-12-31", "action=no_such_event", "user=%25"):
        response = client.get(f"/admin/audit?{query}")
        assert response.status_code == 200, query
    assert events_on(client.get("/admin/audit?action=no_such_event").get_data(as_text=True)) == []


def test_hostile_queries_on_the_admin_pages_never_give_a_500(client, login, admin):
    login(admin)
    hostile = ("%00", "x" * 3000, "%FF%FE", "a%00b", "%27%22%3B--", "1e999", "..%2F..")
    for value in hostile:
        for url in (
            f"/admin/users?q={value}&page={value}",
            f"/admin/audit?user={value}&action={value}&page={value}",
            f"/admin/audit?since={value}",
            f"/admin/audit?until={value}",
        ):
            response = client.get(url)
            assert response.status_code in (200, 400), (url[:80], response.status_code)
    # The walk's hostile query (the app refuses some of it before any view: a 4xx, not a 500).
    for url in ("/admin/sections/platforms", "/admin/sections/pipeline", "/admin/users"):
        assert client.get(url + BAD_QUERY).status_code < 500
    assert client.get("/admin/audit" + BAD_QUERY).status_code < 500
