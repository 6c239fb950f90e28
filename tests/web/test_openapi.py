"""The API's OpenAPI document against the app: it is valid OpenAPI 3.1, it lists exactly the
routes Flask serves, real answers (successes and errors) match its schemas, and /api/docs shows
every operation without anything from another site."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from jsonschema import Draft202012Validator
from markupsafe import escape
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app.extensions import db
from app.services.accounts import api_tokens
from tests.analytics_support import seed
from tests.images import avatar_jpeg
from tests.sync_support import connect_mastodon, ready_images, settle
from tests.web.test_api_images import bearer
from tests.web.test_manual_platforms import add_manual

DOC_URI = "urn:linkarooie:openapi"
BODY_KEYS = ("json", "data", "content_type")


@pytest.fixture
def spec(client):
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200
    return answer.json


def flask_operations(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        found |= {(method.lower(), path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return found


def documented_operations(spec) -> set[tuple[str, str]]:
    return {(method, path) for path, methods in spec["paths"].items() for method in methods}


def test_the_document_is_valid_openapi_3_1(spec):
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_every_route_is_documented_and_every_documented_route_exists(app, spec):
    served, documented = flask_operations(app), documented_operations(spec)
    assert served - documented == set(), "routes missing from app/services/openapi.py"
    assert documented - served == set(), "documented routes Flask does not serve"
    endpoints = {
        (method.lower(), re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)): rule.endpoint
        for rule in app.url_map.iter_rules()
        for method in rule.methods
    }
    int_params = {
        name for rule in app.url_map.iter_rules() for name in re.findall(r"<int:(\w+)>", rule.rule)
    }
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            assert operation["operationId"] == endpoints[(method, path)]
            for param in operation.get("parameters", []):
                if param["in"] == "path":
                    integer = param["schema"].get("type") == "integer"
                    assert integer == (param["name"] in int_params), (path, param)
            if operation["security"]:
                assert operation["x-scope"] == api_tokens.scope_needed(method.upper(), path)
                assert {"401", "403", "429"} <= set(operation["responses"])


def test_the_document_needs_no_token_and_may_be_cached(client):
    for headers in ({}, {"Authorization": "Bearer lk_not-a-token"}):
        answer = client.get("/api/v1/openapi.json", headers=headers)
        assert answer.status_code == 200
        assert answer.json["info"]["title"] == "Linkarooie API"
        assert answer.headers["Cache-Control"] == "public, max-age=300"
    # and everything else under /api/v1 still does
    assert client.get("/api/v1/me").status_code == 401


def test_the_docs_page_shows_every_operation_from_this_site_only(client, spec):
    answer = client.get("/api/docs")
    assert answer.status_code == 200
    html = answer.text
    for path, methods in spec["paths"].items():
        assert path in html
        for operation in methods.values():
            assert f'id="op-{operation["operationId"]}"' in html
            assert str(escape(operation["summary"])) in html
    for schema in spec["components"]["schemas"]:
        assert f'id="schema-{schema}"' in html
    assert "insufficient_scope" in html and "Settings" in html
    loaded = re.findall(r"<(?:script|link|img)\b[^>]*\b(?:src|href)=\"([^\"]*)\"", html)
    assert loaded and all(url.startswith("/") and not url.startswith("//") for url in loaded)


class Contract:
    """Calls the API and checks each answer against the document; remembers what it saw."""

    def __init__(self, client, spec):
        self.client, self.spec = client, spec
        resource = Resource.from_contents(spec, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(DOC_URI, resource)
        self.seen: set[tuple[str, str, str]] = set()

    def call(self, method: str, path: str, headers=None, *, status: int, **kwargs):
        params = {k: v for k, v in kwargs.items() if k not in BODY_KEYS + ("query",)}
        url = path.format(**params) + kwargs.get("query", "")
        body = {k: kwargs[k] for k in BODY_KEYS if k in kwargs}
        answer = self.client.open(url, method=method.upper(), headers=headers or {}, **body)
        assert answer.status_code == status, (method, url, answer.status_code, answer.data[:300])
        operation = self.spec["paths"][path][method]
        assert str(status) in operation["responses"], (
            f"{method} {path} answered undocumented {status}"
        )
        response = operation["responses"][str(status)]
        pointer = f"/paths/{path.replace('/', '~1')}/{method}/responses/{status}"
        if "$ref" in response:
            pointer = response["$ref"][1:]
            response = self.spec["components"]["responses"][pointer.rsplit("/", 1)[1]]
        content = response.get("content", {})
        if not content:
            assert answer.data == b""
        elif "application/json" in content:
            assert answer.mimetype == "application/json"
            ref = f"{DOC_URI}#{pointer}/content/application~1json/schema"
            validator = Draft202012Validator({"$ref": ref}, registry=self.registry)
            errors = [
                f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(answer.json)
            ]
            assert errors == [], f"{method} {path} {status}: {errors}"
        else:
            major = answer.mimetype.split("/")[0]
            assert answer.mimetype in content or f"{major}/*" in content
        self.seen.add((method, path, str(status)))
        return answer


@pytest.fixture
def people(make_user):
    return make_user(email="pat@example.com", name="Pat"), make_user(email="sam@example.com")


def test_real_answers_match_their_schemas(
    client, spec, people, run_jobs, fake_mastodon, webhook_receiver
):
    pat, sam = people
    seed(client, run_jobs, pat, sam)  # a public profile, traffic, sync history, followers
    api = Contract(client, spec)
    auth = bearer(pat)
    V1 = "/api/v1"

    api.call("get", f"{V1}/openapi.json", status=200)
    api.call("get", f"{V1}/me", auth, status=200)
    api.call("get", f"{V1}/presets", auth, status=200)

    # Images: an upload, then ready ones
    uploaded = api.call(
        "post",
        f"{V1}/images",
        auth,
        status=202,
        data={"kind": "avatar", "file": (io.BytesIO(avatar_jpeg(seed=3)), "a.jpg")},
    )
    avatar, banner = ready_images(pat, run_jobs)
    listed = api.call("get", f"{V1}/images", auth, status=200).json
    assert {uploaded.json["id"], avatar.id, banner.id} <= {image["id"] for image in listed}
    assert any(image["variants"] for image in listed)
    api.call("get", f"{V1}/images/{{image_id}}", auth, status=200, image_id=avatar.id)
    api.call("post", f"{V1}/images/{{image_id}}/current", auth, status=200, image_id=avatar.id)
    api.call("delete", f"{V1}/images/{{image_id}}", auth, status=204, image_id=uploaded.json["id"])

    # Accounts and syncs: Mastodon over the loopback fake, two manual platforms
    alice = connect_mastodon(pat, fake_mastodon)
    linkedin, github = add_manual(pat, "linkedin"), add_manual(pat, "github")
    accounts = api.call("get", f"{V1}/accounts", auth, status=200).json
    assert {alice.id, linkedin.id, github.id} <= {account["id"] for account in accounts}
    api.call("get", f"{V1}/sync/preview", auth, status=200, query=f"?accounts={alice.id}")
    started = api.call(
        "post",
        f"{V1}/sync",
        auth,
        status=202,
        json={"accounts": [alice.id, linkedin.id, github.id], "profile": True},
    ).json
    sync_id = started["id"]
    settle(run_jobs, sync_id)
    release = api.call("get", f"{V1}/sync/{{request_id}}", auth, status=200, request_id=sync_id)
    manual = [task for task in release.json["tasks"] if task["status"] == "manual"]
    assert len(manual) >= 2 and any(t["status"] == "succeeded" for t in release.json["tasks"])
    assert {
        task["status"] for task in api.call("get", f"{V1}/sync", auth, status=200).json[1]["tasks"]
    }
    task_path = f"{V1}/sync/{{request_id}}/tasks/{{task_id}}"
    file = manual[0]["files"][0]
    api.call(
        "get",
        f"{task_path}/files/{{preset}}",
        auth,
        status=200,
        request_id=sync_id,
        task_id=manual[0]["id"],
        preset=file["preset"],
    )
    api.call("get", f"{V1}/sync/{{request_id}}/manual.zip", auth, status=200, request_id=sync_id)
    ids = {"request_id": sync_id, "task_id": manual[0]["id"]}
    api.call("post", f"{task_path}/done", auth, status=200, **ids)
    api.call("post", f"{task_path}/dismiss", auth, status=409, **ids)  # already done
    api.call(
        "post",
        f"{task_path}/dismiss",
        auth,
        status=200,
        request_id=sync_id,
        task_id=manual[1]["id"],
    )

    # Profile
    api.call("get", f"{V1}/profile", auth, status=200)
    api.call("patch", f"{V1}/profile", auth, status=200, json={"bio": "Paints boats."})
    refused = api.call("patch", f"{V1}/profile", auth, status=422, json={"colour": "blue"})
    assert refused.json["fields"] == {"colour": "Not a profile field."}

    # Schedules
    at = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    created = api.call(
        "post", f"{V1}/schedules", auth, status=201, json={"avatar_id": avatar.id, "at": at}
    ).json
    api.call("get", f"{V1}/schedules", auth, status=200)
    one = {"scheduled_release_id": created["id"]}
    api.call("get", f"{V1}/schedules/{{scheduled_release_id}}", auth, status=200, **one)
    api.call("delete", f"{V1}/schedules/{{scheduled_release_id}}", auth, status=200, **one)
    api.call("post", f"{V1}/schedules", auth, status=422, json={"at": "tomorrow-ish"})

    # Webhooks
    hook = api.call(
        "post",
        f"{V1}/webhooks",
        auth,
        status=201,
        json={"url": webhook_receiver.url + "/in", "events": ["image.ready"]},
    ).json
    api.call("get", f"{V1}/webhooks", auth, status=200)
    endpoint = {"endpoint_id": hook["id"]}
    api.call("post", f"{V1}/webhooks/{{endpoint_id}}/test", auth, status=202, **endpoint)
    api.call("delete", f"{V1}/webhooks/{{endpoint_id}}", auth, status=204, **endpoint)

    # Analytics
    summary = api.call("get", f"{V1}/analytics/summary", auth, status=200).json
    assert summary["totals"]["page_views"] and summary["sync"] and summary["followers"]
    events = api.call("get", f"{V1}/analytics/events", auth, status=200).json
    assert events["events"]
    api.call("get", f"{V1}/analytics/events", auth, status=422, query="?type=nope")

    # Your data: one export at a time, then its status and the zip
    asked = api.call("post", f"{V1}/export", auth, status=202).json
    running = api.call("post", f"{V1}/export", auth, status=409).json
    assert running["id"] == asked["id"]
    run_jobs()
    one = {"export_id": asked["id"]}
    ready = api.call("get", f"{V1}/export/{{export_id}}", auth, status=200, **one).json
    assert ready["status"] == "ready" and ready["download_url"]
    api.call("get", f"{V1}/export/{{export_id}}/download", auth, status=200, **one)

    # Notifications (creating the tokens and the webhook told the person some already)
    listed = api.call("get", f"{V1}/notifications", auth, status=200, query="?limit=2").json
    assert listed["notifications"] and listed["unread"] >= 1
    marked = api.call("post", f"{V1}/notifications/read", auth, status=200, json={}).json
    assert marked["unread"] == 0
    api.call("get", f"{V1}/notifications", auth, status=422, query="?limit=0")

    # Errors: no token, a read-only token writing, someone else's id, an unreadable body
    no_token = api.call("get", f"{V1}/me", status=401)
    assert no_token.headers["WWW-Authenticate"].startswith("Bearer")
    _, raw = api_tokens.create_token(pat, "read only", scopes=["read"])
    db.session.commit()
    read_only = {"Authorization": f"Bearer {raw}"}
    forbidden = api.call("post", f"{V1}/webhooks", read_only, status=403, json={})
    assert forbidden.json["code"] == "insufficient_scope"
    their_image, _ = ready_images(sam, run_jobs, seed=9)
    api.call("get", f"{V1}/images/{{image_id}}", auth, status=404, image_id=their_image.id)
    bad = api.call(
        "post",
        f"{V1}/sync",
        auth,
        status=400,
        data="not json",
        content_type="application/json",
    )
    assert "JSON object" in bad.json["error"]

    # Every documented operation answered at least once, successfully
    called = {(method, path) for method, path, status in api.seen if status.startswith("2")}
    assert called == documented_operations(spec)


def test_a_throttled_answer_matches_its_schema_and_the_document_is_not_throttled(
    app, client, spec, make_user, monkeypatch
):
    api = Contract(client, spec)
    auth = bearer(make_user(email="pat@example.com"))
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "2 per minute")
    for _ in range(3):
        api.call("get", "/api/v1/openapi.json", auth, status=200)
    for _ in range(2):
        api.call("get", "/api/v1/me", auth, status=200)
    throttled = api.call("get", "/api/v1/me", auth, status=429)
    assert int(throttled.headers["Retry-After"]) > 0


def test_settings_points_to_the_docs_and_the_docs_to_settings(client, make_user, login):
    login(make_user(email="pat@example.com"))
    assert 'href="/api/docs"' in client.get("/settings").text
    assert 'href="/settings#settings-tokens"' in client.get("/api/docs").text
