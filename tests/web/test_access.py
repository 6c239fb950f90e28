"""Generic walks over app.url_map, so they keep guarding routes that other features add.

1. Every route that takes an object id, called by a second user (and by a second user who is
   an admin) with the first user's ids, answers 404 or 403. Id-less pages never show the first
   user's data.
2. Every state-changing route refuses a request without a CSRF token (400), except the
   token-authenticated JSON API and the one-click unsubscribe link (CSRF_EXEMPT) are exempt.

Ids are filled generically: `<x_id>` maps to the model whose table is named after x and which
has a user_id/owner_id column; a row is built for the owner with placeholder values. A feature
whose rows need more than that defines a fixture `owned_<arg>` returning `factory(owner) -> value`
(in its tests/peers plugin), which wins over the generic builder.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Enum, Integer, String, Text
from sqlalchemy.types import TypeDecorator
from werkzeug.routing import Rule

from app.extensions import db
from app.models import User
from app.services.accounts import api_tokens
from app.services.notifications import events

# Reachable without an account, or acting on a token/link/pending sign-in rather than an id.
PUBLIC_ENDPOINTS = {
    "static",
    "main.index",
    "health.healthz",
    "health.readyz",
    "media.file",  # LocalStorage files (dev/tests); unguessable content-hashed keys, CSP sandboxed
    "auth.login",
    "auth.register",
    "auth.logout",
    "auth.forgot",
    "auth.reset",
    "auth.verify",
    "auth.confirm_email",
    "oauth.start",
    "oauth.callback",
    "oauth.confirm",
    "oauth.confirm_post",
    "oauth.pending",
    "oauth.pending_email",
    "oauth.pending_password",
    "public.link",  # a public page's link, for anyone; only links still on a public page answer
    "notifications.unsubscribe",  # a signed link from a mail, for one person and one type
}
# RFC 8058 one-click unsubscribe: a mail client POSTs without any session; the signed link is
# the only proof, and all it can do is turn one type of mail off.
CSRF_EXEMPT = {"notifications.unsubscribe"}
# Values for non-id arguments: any string reaches the ownership check first.
SAMPLE_ARGS: dict[str, Any] = {"provider": "google", "preset_key": "x-avatar", "token": "x"}
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
OWNER_EMAIL, OWNER_NAME = "owner-marker@example.com", "Ownermarkername"


def rules(app) -> list[Rule]:
    return sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))


def id_args(rule: Rule) -> set[str]:
    return {arg for arg in rule.arguments if arg.endswith("_id")}


def methods(rule: Rule) -> list[str]:
    return sorted(rule.methods - {"HEAD", "OPTIONS"})


def _model_for(arg: str) -> type:
    stem = arg.removesuffix("_id")
    for mapper in db.Model.registry.mappers:
        model, table = mapper.class_, mapper.class_.__tablename__
        owned = "user_id" in mapper.columns or "owner_id" in mapper.columns
        if owned and (table in (stem, f"{stem}s") or table.endswith((f"_{stem}s", f"_{stem}"))):
            return model
    if stem == "user":
        return User
    raise LookupError(arg)


def _placeholder(column) -> Any:
    kind = column.type
    if isinstance(kind, TypeDecorator):  # UTCDateTime, EncryptedText: by what they store
        kind = kind.impl
    if isinstance(kind, Enum):
        members = list(kind.enum_class) if kind.enum_class else kind.enums
        return members[0]
    if isinstance(kind, Boolean):
        return False
    if isinstance(kind, (Integer, BigInteger)):
        return 1
    if isinstance(kind, DateTime):
        return datetime.now(UTC)
    if isinstance(kind, JSON):
        return {}
    if isinstance(kind, (String, Text)):
        length = getattr(kind, "length", None) or 32
        return uuid.uuid4().hex[: min(length, 32)] if column.unique else "x"[:length]
    raise TypeError(f"no placeholder for {column.table.name}.{column.name} ({kind})")


def build_owned(model: type, owner: User) -> Any:
    """A row of `model` for `owner`, required columns filled with placeholders."""
    if model is User:
        return owner
    values: dict[str, Any] = {}
    for key, column in model.__mapper__.columns.items():
        if column.name in ("user_id", "owner_id"):
            values[key] = owner.id
        elif column.primary_key or column.nullable or column.default or column.server_default:
            continue
        elif column.foreign_keys:
            raise TypeError(f"{model.__name__}.{key} needs a parent row: add an owned_ fixture")
        else:
            values[key] = _placeholder(column)
    row = model(**values)
    db.session.add(row)
    db.session.flush()
    return row


@pytest.fixture
def fill_args(request) -> Callable[[Rule, User], dict[str, Any]]:
    """URL values for `rule`, ids pointing at objects that belong to `owner`."""
    cache: dict[tuple[str, int], Any] = {}

    def fill(rule: Rule, owner: User) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for arg in sorted(rule.arguments):
            key = (arg, owner.id)
            if key not in cache:
                try:
                    factory = request.getfixturevalue(f"owned_{arg}")
                    cache[key] = factory(owner)
                except pytest.FixtureLookupError:
                    if arg.endswith("_id"):
                        cache[key] = build_owned(_model_for(arg), owner).id
                    else:
                        cache[key] = SAMPLE_ARGS.get(arg, "sample")
            values[arg] = cache[key]
        db.session.commit()
        return values

    return fill


@pytest.fixture
def owned_token_id(make_user) -> Callable[[User], int]:
    def make(owner: User) -> int:
        token, _raw = api_tokens.create_token(owner, "owner's token")
        db.session.commit()
        return token.id

    return make


@pytest.fixture
def owned_event_id() -> Callable[[User], int]:
    # "analytics_events" would match <event_id> by name too: a notification is an `events` row.
    def make(owner: User) -> int:
        return events.emit(owner.id, "schedule.ran", schedule_id=1, status="applied").id

    return make


@pytest.mark.parametrize("intruder_is_admin", [False, True], ids=["user", "admin"])
def test_nobody_reaches_another_users_objects(
    app, client, make_user, login, fill_args, intruder_is_admin
):
    owner = make_user(email=OWNER_EMAIL, name=OWNER_NAME)
    intruder = make_user(email="intruder@example.com", name="Ivan", admin=intruder_is_admin)
    intruder_token = api_tokens.create_token(intruder, "intruder")[1]
    db.session.commit()
    login(intruder)
    api_auth = {"Authorization": f"Bearer {intruder_token}"}

    failures, checked = [], 0
    for rule in rules(app):
        if rule.endpoint in PUBLIC_ENDPOINTS or (
            intruder_is_admin and rule.endpoint.startswith("admin.")
        ):
            continue
        headers = api_auth if rule.rule.startswith("/api/") else {}
        if not id_args(rule):
            # Pages about "my" things: the intruder sees their own, never the owner's.
            if "GET" in rule.methods and not rule.arguments:
                response = client.get(rule.rule, headers=headers)
                body = response.get_data(as_text=True)
                if response.status_code >= 500 or OWNER_EMAIL in body or OWNER_NAME in body:
                    failures.append(
                        f"GET {rule.rule} ({rule.endpoint}): {response.status_code}, leaks?"
                    )
            continue
        url = app.url_map.bind("localhost").build(rule.endpoint, fill_args(rule, owner))
        for method in methods(rule):
            response = client.open(url, method=method, headers=headers)
            checked += 1
            if response.status_code not in (403, 404):
                failures.append(f"{method} {url} ({rule.endpoint}): {response.status_code}")
    assert checked >= 1, "no route takes an id? the walk found nothing to check"
    assert not failures, "reachable by another user:\n" + "\n".join(failures)


def test_signed_out_people_reach_no_objects(app, client, make_user, fill_args):
    owner = make_user(email=OWNER_EMAIL, name=OWNER_NAME)
    failures = []
    for rule in rules(app):
        if rule.endpoint in PUBLIC_ENDPOINTS or not id_args(rule):
            continue
        url = app.url_map.bind("localhost").build(rule.endpoint, fill_args(rule, owner))
        for method in methods(rule):
            response = client.open(url, method=method)
            location = response.headers.get("Location", "")
            if not (response.status_code in (401, 403, 404) or location.startswith("/sign-in")):
                failures.append(f"{method} {url}: {response.status_code} {location}")
    assert not failures, "reachable signed out:\n" + "\n".join(failures)


def test_every_state_changing_route_needs_a_csrf_token(app, client, make_user, login, fill_args):
    user = make_user()
    login(user)
    checked, failures = 0, []
    for rule in rules(app):
        unsafe = [m for m in methods(rule) if m in UNSAFE]
        if not unsafe or rule.endpoint.startswith("api.") or rule.endpoint in CSRF_EXEMPT:
            continue
        url = app.url_map.bind("localhost").build(rule.endpoint, fill_args(rule, user))
        for method in unsafe:
            response = client.open(url, method=method, data={"anything": "x"}, csrf=False)
            checked += 1
            if response.status_code != 400 or b"CSRF" not in response.data:
                failures.append(f"{method} {url} ({rule.endpoint}): {response.status_code}")
    assert checked >= 5
    assert not failures, "accepted without a CSRF token:\n" + "\n".join(failures)
    # The CSRF check ran before anything else: the user is still signed in.
    assert client.get("/settings").status_code == 200


def test_the_token_api_is_the_only_csrf_exemption(app, client, make_user):
    user = make_user()
    raw = api_tokens.create_token(user, "csrf walk")[1]
    db.session.commit()
    api_rules = [r for r in rules(app) if r.endpoint.startswith("api.")]
    assert api_rules and all(r.rule.startswith("/api/v1/") for r in api_rules)
    for rule in api_rules:
        for method in [m for m in methods(rule) if m in UNSAFE]:
            url = app.url_map.bind("localhost").build(
                rule.endpoint, {a: 999999 for a in rule.arguments}
            )
            response = client.open(
                url, method=method, csrf=False, headers={"Authorization": f"Bearer {raw}"}
            )
            assert b"CSRF" not in response.data, f"{method} {url} demanded a CSRF token"
            assert response.is_json
