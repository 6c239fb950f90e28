"""The admin status page (/admin): one page of sections, each refreshed on its own by htmx.

A section is a function returning its template's context, registered with @section; the page
renders every section and GET /admin/sections/<name> renders one again. Anyone who is not a
signed-in admin gets 404 on every /admin route, so the pages' existence is not advertised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, request
from flask_login import current_user

from app.infra import row_security

bp = Blueprint("admin", __name__, url_prefix="/admin")


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    order: int
    context: Callable[[], dict[str, Any]]

    @property
    def template(self) -> str:
        return f"admin/partials/{self.name}.html"


SECTIONS: dict[str, Section] = {}


def section(name: str, title: str, order: int) -> Callable:
    """Register a status-page section; the function returns its template's context."""

    def register(context: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
        SECTIONS[name] = Section(name, title, order, context)
        return context

    return register


@bp.before_request
def admins_only() -> None:
    if not (current_user.is_authenticated and current_user.is_admin):
        abort(404)
    # The status page looks across people by design: each admin request is a logged bypass of
    # row-level security, ended with the request.
    row_security.start(bypass=f"admin {request.endpoint}")


# Routes and sections register on bp when imported.
from app.blueprints.admin import jobs, platforms, routes, users  # noqa: E402,F401
