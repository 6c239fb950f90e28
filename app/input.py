"""Input guards below every view: what no route can use is a 4xx here, never a 500 deeper down.

- `<int:...>` ids are bounded to the id columns' range, so a 30-digit id is a plain 404;
- JSON too deeply nested to parse is a 400, not a RecursionError;
- pages take forms, not JSON (Flask-WTF would otherwise read a JSON body as form data);
- NUL characters never reach a text column (PostgreSQL refuses them with an error).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, abort, request
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter

# Primary keys are INTEGER columns (32-bit on PostgreSQL); raise this if they become BIGINT.
ID_MAX = 2**31 - 1

NUL = "\x00"


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` bounded to the id columns, so /images/99999999999999999999 is a 404 like any
    id that does not exist, instead of an overflow inside the database driver."""

    def __init__(self, map, *args: Any, **kwargs: Any) -> None:  # noqa: A002  (werkzeug's name)
        kwargs.setdefault("max", ID_MAX)
        super().__init__(map, *args, **kwargs)


class GuardedRequest(Request):
    def get_json(self, *args: Any, **kwargs: Any) -> Any:
        try:
            data = super().get_json(*args, **kwargs)
        except RecursionError:
            raise BadRequest("The JSON body is nested too deeply.") from None
        if _has_nul(data):
            raise BadRequest("Text may not contain NUL characters.")
        return data


def _has_nul(data: Any) -> bool:
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


# Read only as a redirect target, which `safe_next` cleans: a hostile one must not block the
# sign-in it rides on.
NEVER_STORED = frozenset({"next"})


def reject_unusable_input() -> None:
    if request.is_json and request.blueprint != "api" and request.method not in {"GET", "HEAD"}:
        abort(415, "This page takes a form, not JSON.")
    for values in (request.args, request.form):
        for key, value in values.items(multi=True):
            if NUL in key or (NUL in value and key not in NEVER_STORED):
                abort(400, "Text may not contain NUL characters.")


def register_input_guards(app: Flask) -> None:
    app.request_class = GuardedRequest
    app.url_map.converters["int"] = DatabaseIdConverter
    # Before the extensions' own hooks (CSRF reads the form too): first thing every request does.
    app.before_request_funcs.setdefault(None, []).insert(0, reject_unusable_input)
