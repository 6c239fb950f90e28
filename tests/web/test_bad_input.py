"""Bad input never gives a 500: every route in the URL map, signed in and with a CSRF token, gets
out-of-range ids, hostile path parameters and query strings, and malformed bodies of every kind.

New routes are walked automatically. A failure lists each (method, URL, body) that answered 5xx.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import TaskStatus, User, UserSession
from app.services.accounts import api_tokens
from app.services.images import library
from tests.conftest import DEFAULT_PASSWORD
from tests.images import avatar_jpeg
from tests.sync_rows import make_account, make_release

BAD_INTS = ("0", *(str(n) for n in (2**31 - 1, 2**31, 2**63 - 1, 2**63)), "9" * 23, "1" * 400)
BAD_STRINGS = ("x" * 3000, "%C3%A9t%C3%A9", "%FF%FE", "%00", "..", "%2E%2E%2F%2E%2E%2Fetc")
BAD_QUERY = (
    "?next=%FF%FE&page=99999999999999999999999&kind=%00&id=-1&per_page=1e999"
    "&next=https://evil.example&state=" + "s" * 4000
)
FIELDS = (
    "email", "password", "name", "token-name", "new_email", "current_password", "new_password",
    "confirm", "kind", "crop", "box", "next", "remember", "preset", "state", "code",
    "avatar_id", "banner_id", "account_ids", "choose", "handle", "app_password", "drift_watch",
)  # fmt: skip
DEEP = 100_000


def bodies() -> Iterator[tuple[str, dict]]:
    """(label, keyword arguments for client.open) for each malformed body."""
    yield "deeply nested JSON array", _raw("application/json", b"[" * DEEP + b"]" * DEEP)
    yield (
        "deeply nested JSON object",
        _raw("application/json", b'{"a":' * DEEP + b"1" + b"}" * DEEP),
    )
    yield "truncated JSON", _raw("application/json", b'{"box": [0, 0,')
    yield "JSON that is not UTF-8", _raw("application/json", b'{"name": "\xff\xfe"}')
    yield "JSON scalar", _raw("application/json", b'"just a string"')
    yield "JSON null", _raw("application/json", b"null")
    yield "JSON huge number", _raw("application/json", b"1" + b"0" * 5000)
    yield (
        "JSON wrong types",
        _raw(
            "application/json",
            b'{"box": {"x": 1e999, "y": -1e999, "w": "w", "h": null}, "rotate": [], "zoom": {},'
            b' "overrides": {"x_avatar": "no"}, "kind": 7, "name": ["a"], "email": {"a": 1},'
            b' "flip": "yes", "id": 99999999999999999999999}',
        ),
    )
    yield "JSON with NUL", _raw("application/json", b'{"name": "a\\u0000b", "kind": "avatar"}')
    yield "JSON with the wrong content type", _raw("text/plain", b'{"name": "x"}')
    yield (
        "form that is not UTF-8",
        _raw(
            "application/x-www-form-urlencoded",
            b"&".join(f.encode() + b"=%FF%FE%00" for f in FIELDS),
        ),
    )
    yield "huge form fields", {"data": {field: "x" * 25_000 for field in FIELDS}}
    yield (
        "repeated form fields",
        _raw(
            "application/x-www-form-urlencoded",
            b"&".join(b"kind=a&kind=b&email=a&email=" for _ in FIELDS),
        ),
    )
    yield "multipart without a boundary", _raw("multipart/form-data", b"--x\r\n\r\nnothing")
    yield (
        "multipart with a hostile file",
        {
            "data": {
                "file": (io.BytesIO(b"\x00\xffnot an image"), "../../etc/passwd\x00.jpg"),
                "kind": "\x00",
            },
            "content_type": "multipart/form-data",
        },
    )
    yield "unknown content type", _raw("application/x-unknown; charset=klingon", b"\x00\x01")
    yield "UTF-16 JSON", _raw("application/json; charset=utf-16", '{"kind": "x"}'.encode("utf-16"))


def _raw(content_type: str, data: bytes) -> dict:
    return {"data": data, "content_type": content_type}


def variants(rule, good: dict[str, str]) -> Iterator[str]:
    """The rule's URL with good values, then with each parameter in turn replaced by bad ones."""
    yield _build(rule, good)
    for name, converter in rule._converters.items():
        kind = type(converter).__name__
        bad = BAD_INTS if "Integer" in kind or "Id" in kind else BAD_STRINGS
        for value in bad:
            yield _build(rule, {**good, name: value})


def _build(rule, values: dict[str, str]) -> str:
    # Raw text into the path: building through the rule would escape or refuse the bad values.
    def value(match: re.Match) -> str:
        assert match.group(1) in values, f"add a good value for <{match.group(1)}> ({rule.rule})"
        return values[match.group(1)]

    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", value, rule.rule)


def good_values(
    image_id: int, token_id: int, session_id: int, sync: dict[str, int] | None = None
) -> dict[str, str]:
    sync = sync or {}
    return {
        "platform": "mastodon",
        "account_id": str(sync.get("account_id", 1)),
        "request_id": str(sync.get("request_id", 1)),
        "task_id": str(sync.get("task_id", 1)),
        "image_id": str(image_id),
        "token_id": str(token_id),
        "session_id": str(session_id),
        "provider": "github",
        "preset_key": "thumb_avatar_256",
        "preset": "mastodon_avatar",
        "token": "not-a-real-token",
        "key": "originals/ab/not-there.jpg",
        "filename": "css/app.css",
        "job_id": "no-such-job",
        "name": "checks",  # an admin status-page section
        "user_id": str(sync.get("user_id", 1)),
        "handle": "somebody",  # a public page (/@<handle>): unknown handles are 404
        "link_id": "1.0123456789ab",  # a public page's link (/l/<id>): unknown ids are 404
        "slot": "avatar",  # a connected account's drift actions
        "scheduled_release_id": "1",  # unknown: 404
        "table": "links",  # an analytics table's CSV (/analytics/<table>.csv)
        "endpoint_id": "1",  # a webhook endpoint; unknown: 404
        "event_id": "1",  # a notification: unknown or someone else's is 404
        "export_id": "1",  # a data export: unknown is 404
    }


def _sign_in_if_needed(client, user) -> None:
    with client.session_transaction() as session:
        signed_in = session.get("_user_id")
    if not signed_in:  # sign-out, or a password change that ended the session
        client.post("/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD})


def _ordered(rules):
    # Deleting the real image last keeps it around for every other route's bad bodies.
    return sorted(rules, key=lambda r: ("delete" in r.endpoint, "logout" in r.endpoint))


@pytest.fixture
def generous_limits(app: Flask) -> Iterator[None]:
    """Rate limits would answer 429 before the body is ever parsed; lift them for the walk."""
    keys = [key for key in app.config if key.endswith("_RATE_LIMIT")]
    saved = {key: app.config[key] for key in keys}
    app.config.update({key: "100000 per hour" for key in keys})
    yield
    app.config.update(saved)


def test_no_route_answers_5xx_to_bad_input(
    app, client, make_user, login, run_jobs, generous_limits
):
    user = make_user()
    image, _ = library.create_upload(user.id, "avatar", avatar_jpeg())
    token, raw_token = api_tokens.create_token(user, "fuzz")
    db.session.commit()
    image_id, token_id, user_id = image.id, token.id, user.id
    run_jobs()
    user = db.session.get(User, user_id)  # (the RQ worker ended the test's session)
    login(user)
    session_id = db.session.scalar(select(UserSession.id).where(UserSession.user_id == user_id))
    account = make_account(user)
    release = make_release(user, account, statuses={"avatar": TaskStatus.FAILED})
    sync = {
        "account_id": account.id,
        "request_id": release.id,
        "task_id": release.tasks[0].id,
        "user_id": user_id,
    }
    good = good_values(image_id, token_id, session_id, sync)
    api_auth = {"Authorization": f"Bearer {raw_token}"}

    failures: list[str] = []
    sent = 0

    def send(method: str, url: str, label: str, **kwargs) -> None:
        nonlocal sent
        headers = {**(api_auth if url.startswith("/api/") else {}), **kwargs.pop("headers", {})}
        response = client.open(url, method=method, headers=headers, **kwargs)
        sent += 1
        if response.status_code >= 500:
            failures.append(f"{method} {url[:120]} [{label}] -> {response.status_code}")
        _sign_in_if_needed(client, user)

    for rule in _ordered(app.url_map.iter_rules()):
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        urls = list(variants(rule, good))
        for method in methods:
            for url in urls:
                send(method, url, "bad path")
                if method == "GET":
                    send(method, url + BAD_QUERY, "bad query")
                    send(method, url, "htmx", headers={"HX-Request": "true"})
            if method != "GET":
                for query in ("", BAD_QUERY):
                    for label, body in bodies():  # fresh bodies: a sent file is closed
                        send(
                            method,
                            urls[0] + query,
                            label + (" + bad query" if query else ""),
                            **body,
                        )

    assert sent > 500  # the walk really covered the map
    assert not failures, "5xx answers:\n" + "\n".join(failures)


@pytest.mark.parametrize(
    "path", ["/images/99999999999999999999999/crop", "/api/v1/images/" + "9" * 30]
)
def test_ids_beyond_64_bits_are_404(client, make_user, login, path):
    login(make_user())
    response = client.get(path)
    assert response.status_code == 404


def test_bad_bodies_get_a_reason(client, make_user, login):
    login(make_user())
    as_json = client.post("/settings/profile", data=b'["x"]', content_type="application/json")
    assert as_json.status_code == 415 and b"This page takes a form, not JSON." in as_json.data
    nul = client.post("/settings/profile", data={"name": "Al\x00ice"})
    assert nul.status_code == 400 and b"Text may not contain NUL characters." in nul.data


def test_deep_json_is_a_400_with_a_reason(app):
    with app.test_request_context(
        "/api/v1/images",
        method="POST",
        data=b"[" * DEEP + b"]" * DEEP,
        content_type="application/json",
    ):
        from flask import request
        from werkzeug.exceptions import BadRequest

        with pytest.raises(BadRequest, match="nested too deeply"):
            request.get_json()
