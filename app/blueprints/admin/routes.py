"""Thin routes: the status page and the refresh of one section."""

from __future__ import annotations

from flask import abort, current_app, render_template

from app.blueprints.admin import SECTIONS, bp, section
from app.services.ops import checks

REFRESH = "every 5s"
TABS = (("admin.index", "Status"), ("admin.users", "Users"), ("admin.audit", "Audit log"))


@bp.app_template_global("admin_tabs")
def admin_tabs() -> list[tuple[str, str]]:
    return [(endpoint, label) for endpoint, label in TABS if endpoint in current_app.view_functions]


def _sections():
    return sorted(SECTIONS.values(), key=lambda s: s.order)


@bp.get("")
@bp.get("/")
def index() -> str:
    rendered = [(s, s.context()) for s in _sections()]
    return render_template("admin/index.html", sections=rendered, refresh=REFRESH)


@bp.get("/sections/<name>")
def refresh(name: str) -> str:
    found = SECTIONS.get(name)
    if found is None:
        abort(404)
    return render_template(
        "admin/partials/section.html", section=found, data=found.context(), refresh=REFRESH
    )


@section("checks", "Services", order=10)
def services() -> dict:
    return {"checks": checks.run_all(), "row_security": checks.row_security_state()}
