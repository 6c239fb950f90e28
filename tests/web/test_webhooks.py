"""Webhooks on the /settings/webhooks page and over the API: adding one shows its secret once,
"Send test event" reaches the receiver signed (checked by the independent `standardwebhooks`
package), rotating, re-enabling, deleting, the delivery log; the API's exact shapes, 422s and
404s; a loopback URL refused when ALLOW_INSECURE_PLATFORM_URLS is off. The retry and disable
story is tests/tasks/test_webhooks.py."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from app.services.webhooks import endpoints
from tests.web.test_api_images import bearer

SECRET = re.compile(r'value="(whsec_[A-Za-z0-9+/=]+)"')


@pytest.fixture
def pat(make_user, login):
    user = make_user(email="pat@example.com")
    login(user)
    return user


def only_endpoint() -> WebhookEndpoint:
    db.session.expire_all()
    [endpoint] = db.session.scalars(select(WebhookEndpoint)).all()
    return endpoint


def test_add_test_rotate_and_delete_on_the_page(client, pat, run_jobs, webhook_receiver):
    page = client.get("/settings/webhooks")
    assert page.status_code == 200 and "You have no webhooks yet" in page.text
    assert "/settings/webhooks" in client.get("/settings").text

    url = webhook_receiver.url + "/hooks"
    added = client.post(
        "/settings/webhooks", data={"url": url, "events": ["release.completed", "image.ready"]}
    )
    assert added.status_code == 201
    secret = SECRET.search(added.text).group(1)
    assert url in added.text
    endpoint = only_endpoint()
    assert endpoint.events == ["release.completed", "image.ready"]
    again = client.get("/settings/webhooks")
    assert secret not in again.text and url in again.text  # shown once

    webhook_receiver.secret = secret
    tested = client.post(f"/settings/webhooks/{endpoint.id}/test", headers={"HX-Request": "true"})
    assert tested.status_code == 202 and "Test event queued" in tested.text
    assert "<html" not in tested.text  # the section only, for htmx
    run_jobs()
    [got] = webhook_receiver.received
    assert got.verified and got.payload["type"] == "webhook.test"
    log = client.get("/settings/webhooks").text
    assert "webhook.test" in log and "204" in log and " ms" in log

    rotated = client.post(f"/settings/webhooks/{endpoint.id}/rotate")
    assert rotated.status_code == 200
    new = SECRET.search(rotated.text).group(1)
    assert new != secret
    webhook_receiver.secret = new
    client.post(f"/settings/webhooks/{endpoint.id}/test")
    run_jobs()
    assert webhook_receiver.received[-1].verified

    deleted = client.post(f"/settings/webhooks/{endpoint.id}/delete")
    assert deleted.status_code == 200 and "deleted" in deleted.text
    assert db.session.scalar(select(WebhookEndpoint)) is None
    assert db.session.scalar(select(WebhookDelivery)) is None


def test_bad_input_on_the_page_is_a_readable_422(client, pat, app, monkeypatch):
    no_events = client.post("/settings/webhooks", data={"url": "https://example.com/hook"})
    assert no_events.status_code == 422 and "Choose one or more" in no_events.text
    assert 'value="https://example.com/hook"' in no_events.text  # kept to fix and resend
    bad_url = client.post(
        "/settings/webhooks", data={"url": "ftp://example.com", "events": ["image.ready"]}
    )
    assert bad_url.status_code == 422 and "https://" in bad_url.text
    unknown = client.post(
        "/settings/webhooks", data={"url": "https://example.com", "events": ["user.deleted"]}
    )
    assert unknown.status_code == 422
    monkeypatch.setitem(app.config, "ALLOW_INSECURE_PLATFORM_URLS", False)
    loopback = client.post(
        "/settings/webhooks", data={"url": "http://127.0.0.1:8080/", "events": ["image.ready"]}
    )
    assert loopback.status_code == 422
    assert db.session.scalar(select(WebhookEndpoint)) is None


def test_re_enable_on_the_page(client, pat, make_user):
    endpoint, _ = endpoints.create(pat, "https://example.com/hook", ["image.ready"])
    endpoint.enabled, endpoint.disabled_reason = False, "Every delivery failed for 24 hours."
    db.session.commit()
    page = client.get("/settings/webhooks").text
    assert "Disabled" in page and "Every delivery failed for 24 hours." in page
    enabled = client.post(f"/settings/webhooks/{endpoint.id}/enable")
    assert enabled.status_code == 200 and "Enabled again" in enabled.text
    assert only_endpoint().enabled and only_endpoint().disabled_reason is None


def test_another_persons_endpoint_is_404_on_the_page(client, pat, make_user):
    other = make_user(email="other@example.com")
    theirs, _ = endpoints.create(other, "https://example.com/theirs", ["image.ready"])
    db.session.commit()
    for action in ("test", "rotate", "enable", "delete"):
        assert client.post(f"/settings/webhooks/{theirs.id}/{action}").status_code == 404
    assert "example.com/theirs" not in client.get("/settings/webhooks").text


def test_the_api_create_list_test_delete(client, make_user, run_jobs, webhook_receiver):
    pat = make_user(email="pat@example.com")
    auth = bearer(pat)
    url = webhook_receiver.url + "/in"
    created = client.post(
        "/api/v1/webhooks", json={"url": url, "events": ["drift.detected"]}, headers=auth
    )
    assert created.status_code == 201
    assert set(created.json) == {"id", "secret"}
    hook_id, secret = created.json["id"], created.json["secret"]
    assert secret.startswith("whsec_")

    listed = client.get("/api/v1/webhooks", headers=auth)
    assert listed.status_code == 200
    [item] = listed.json
    assert item["id"] == hook_id and item["url"] == url and item["events"] == ["drift.detected"]
    assert set(item) == {"id", "url", "events", "enabled", "created_at"}
    assert item["enabled"] is True and item["created_at"]
    assert secret not in listed.text

    webhook_receiver.secret = secret
    tested = client.post(f"/api/v1/webhooks/{hook_id}/test", headers=auth)
    assert tested.status_code == 202
    run_jobs()
    [got] = webhook_receiver.received
    assert got.verified and got.payload["type"] == "webhook.test"
    sent = db.session.get(WebhookDelivery, tested.json["delivery_id"])
    assert sent.status == DeliveryStatus.SUCCEEDED and sent.msg_id == got.headers["webhook-id"]

    assert client.delete(f"/api/v1/webhooks/{hook_id}", headers=auth).status_code == 204
    assert client.delete(f"/api/v1/webhooks/{hook_id}", headers=auth).status_code == 404
    assert client.get("/api/v1/webhooks", headers=auth).json == []


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"url": "https://example.com/h"}, {"events"}),
        ({"url": "https://example.com/h", "events": []}, {"events"}),
        ({"url": "https://example.com/h", "events": "image.ready"}, {"events"}),
        ({"url": "https://example.com/h", "events": ["image.ready", 3]}, {"events"}),
        ({"url": "https://example.com/h", "events": ["security.password_changed"]}, {"events"}),
        ({"url": "not a url", "events": ["image.ready"]}, {"url"}),
        ({"url": 7, "events": ["image.ready"]}, {"url"}),
        ({"url": "https://user:pw@example.com/", "events": ["image.ready"]}, {"url"}),
        ({"events": None}, {"url", "events"}),
        ({"url": "https://example.com/h", "events": ["image.ready"], "secret": "x"}, {"secret"}),
    ],
)
def test_the_api_refuses_bad_bodies_with_fields(client, make_user, body, fields):
    auth = bearer(make_user(email="pat@example.com"))
    refused = client.post("/api/v1/webhooks", json=body, headers=auth)
    assert refused.status_code == 422
    assert refused.json["error"] and set(refused.json["fields"]) == fields
    assert db.session.scalar(select(WebhookEndpoint)) is None


def test_the_api_refuses_non_objects(client, make_user):
    auth = bearer(make_user(email="pat@example.com"))
    for body in ([1, 2], "x", None):
        refused = client.post("/api/v1/webhooks", json=body, headers=auth)
        assert refused.status_code == 422 and refused.json["fields"] == {}


def test_the_api_refuses_loopback_without_the_insecure_setting(app, client, make_user, monkeypatch):
    auth = bearer(make_user(email="pat@example.com"))
    monkeypatch.setitem(app.config, "ALLOW_INSECURE_PLATFORM_URLS", False)
    for url in ("http://127.0.0.1/hook", "https://127.0.0.1/hook", "https://[::1]/hook"):
        refused = client.post(
            "/api/v1/webhooks", json={"url": url, "events": ["image.ready"]}, headers=auth
        )
        assert refused.status_code == 422 and "url" in refused.json["fields"]


def test_the_api_answers_404_for_another_persons_webhook(client, make_user):
    other = make_user(email="other@example.com")
    theirs, _ = endpoints.create(other, "https://example.com/hook", ["image.ready"])
    db.session.commit()
    auth = bearer(make_user(email="pat@example.com"))
    assert client.post(f"/api/v1/webhooks/{theirs.id}/test", headers=auth).status_code == 404
    assert client.delete(f"/api/v1/webhooks/{theirs.id}", headers=auth).status_code == 404
    assert client.get("/api/v1/webhooks", headers=auth).json == []
    assert db.session.get(WebhookEndpoint, theirs.id) is not None
