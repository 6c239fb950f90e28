"""The in-app side: the bell's unread count (polled by htmx), the list, marking read, the email
settings (security always on) and the unsubscribe link, signed out."""

from __future__ import annotations

import re

from app.extensions import db
from app.models import NotificationPreference
from app.services.notifications import events, preferences
from tests.web.test_api_images import bearer


def _bell_count(html: str) -> int:
    found = re.search(r'class="bell-count" data-count="(\d+)"', html)
    return int(found.group(1)) if found else 0


def test_the_bell_shows_the_unread_count_and_the_partial_follows_it(app, client, make_user, login):
    user = make_user()
    login(user)
    page = client.get("/sync")
    assert 'id="notification-bell"' in page.text and 'hx-trigger="every 30s' in page.text
    assert _bell_count(page.text) == 0

    events.emit(user.id, "release.completed", release_id=5, total=2)
    events.emit(user.id, "schedule.ran", schedule_id=1, status="applied")
    db.session.commit()
    bell = client.get("/notifications/bell", headers={"HX-Request": "true"})
    assert bell.status_code == 200 and _bell_count(bell.text) == 2
    assert "2 unread" in bell.text
    # Polling again with nothing new costs no body.
    again = client.get("/notifications/bell", headers={"If-None-Match": bell.headers["ETag"]})
    assert again.status_code == 304

    client.post("/sign-out")
    assert client.get("/notifications/bell").status_code == 204  # nothing swapped into the header


def test_the_list_marks_one_and_all_read(app, client, make_user, login):
    user = make_user()
    login(user)
    first = events.emit(
        user.id,
        "release.failed",
        release_id=7,
        total=2,
        failed=[{"platform": "mastodon", "handle": "@a@x", "slot": "avatar", "error": "Too large"}],
    )
    events.emit(user.id, "connection.expired", account_id=1, platform="mastodon", handle="@a@x")
    db.session.commit()

    page = client.get("/notifications")
    assert "1 of 2 steps failed" in page.text and "Too large" in page.text
    assert 'href="/sync/7"' in page.text and 'href="/connections"' in page.text
    assert page.text.index("connection stopped working") < page.text.index("steps failed")

    one = client.post(f"/notifications/{first.id}/read", headers={"HX-Request": "true"})
    assert one.status_code == 200 and one.headers["HX-Trigger"] == "notifications-read"
    assert "Mark read" not in one.text
    assert events.unread_count(user.id) == 1
    assert client.post("/notifications/read").status_code == 302
    assert events.unread_count(user.id) == 0
    assert _bell_count(client.get("/notifications").text) == 0


def test_another_persons_notification_cannot_be_marked(app, client, make_user, login):
    owner, intruder = make_user(email="owner@example.com"), make_user(email="in@example.com")
    theirs = events.emit(owner.id, "schedule.ran", schedule_id=1, status="applied")
    db.session.commit()
    login(intruder)
    assert client.post(f"/notifications/{theirs.id}/read").status_code == 404
    assert events.unread_count(owner.id) == 1
    assert "avatar is ready" not in client.get("/notifications").text


def test_settings_turn_email_types_off_and_refuse_to_turn_security_off(
    app, client, make_user, login
):
    user = make_user()
    login(user)
    page = client.get("/settings/notifications")
    assert page.status_code == 200
    assert 'value="release.completed" checked' in page.text
    assert "security." not in page.text  # no checkbox to untick: shown disabled, always on

    keep = [t for t in preferences.optional_types() if t != "drift.detected"]
    saved = client.post("/settings/notifications", data={"email": keep})
    assert saved.status_code == 302
    assert not preferences.wants_email(user.id, "drift.detected")
    assert preferences.wants_email(user.id, "release.completed")

    refused = client.post(
        "/settings/notifications", data={"email": [*keep, "security.password_changed"]}
    )
    assert refused.status_code == 422 and "always sent" in refused.text
    assert preferences.wants_email(user.id, "security.password_changed")
    assert db.session.get(NotificationPreference, (user.id, "security.password_changed")) is None


def test_the_unsubscribe_link_works_signed_out(app, client, make_user):
    user = make_user()
    token = preferences.unsubscribe_token(user.id, "drift.detected")
    page = client.get(f"/notifications/unsubscribe/{token}")
    assert page.status_code == 200 and "drift" in page.text
    assert client.post(f"/notifications/unsubscribe/{token}", csrf=False).status_code == 200
    assert not preferences.wants_email(user.id, "drift.detected")
    assert preferences.wants_email(user.id, "release.completed")
    assert client.get("/notifications/unsubscribe/nonsense").status_code == 400


def test_signing_in_from_a_new_device_is_a_security_notice(app, client, make_user, login):
    user = make_user()
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    client.environ_base["HTTP_USER_AGENT"] = firefox
    login(user)  # the first sign-in ever: nothing to compare with
    client.post("/sign-out")
    login(user)  # the same browser and address
    assert [e.type for e in events.latest(user.id)] == []

    client.post("/sign-out")
    client.environ_base["HTTP_USER_AGENT"] = firefox.replace("X11; Linux x86_64", "Windows NT 10.0")
    login(user)
    (notice,) = events.latest(user.id)
    assert notice.type == "security.new_device_sign_in"
    assert notice.data == {"device": "Firefox on Windows"}


def test_the_api_lists_pages_and_marks_read(app, client, make_user):
    user, other = make_user(), make_user(email="other@example.com")
    auth = bearer(user)  # its own "new API token" notice is the first
    ids = [events.emit(user.id, "schedule.ran", schedule_id=i, release_id=i).id for i in (1, 2)]
    theirs = events.emit(other.id, "schedule.ran", schedule_id=3, release_id=3).id
    db.session.commit()

    first = client.get("/api/v1/notifications?limit=2", headers=auth).json
    assert [n["id"] for n in first["notifications"]] == ids[::-1]
    assert first["unread"] == 3 and first["notifications"][0]["read"] is False
    assert first["notifications"][0]["sentence"] == "Your scheduled look went out."
    rest = client.get(f"/api/v1/notifications?before={first['next_before']}", headers=auth).json
    assert [n["type"] for n in rest["notifications"]] == ["security.api_token_created"]
    assert rest["next_before"] is None

    marked = client.post("/api/v1/notifications/read", json={"ids": [ids[0], theirs]}, headers=auth)
    assert marked.json == {"marked": 1, "unread": 2}
    assert events.unread_count(other.id) == 1
    assert client.post("/api/v1/notifications/read", json={}, headers=auth).json["unread"] == 0

    bad = client.get("/api/v1/notifications?limit=0&before=x", headers=auth)
    assert bad.status_code == 422 and set(bad.json["fields"]) == {"limit", "before"}
    refused = client.post("/api/v1/notifications/read", json={"ids": "all"}, headers=auth)
    assert refused.status_code == 422 and "ids" in refused.json["fields"]
