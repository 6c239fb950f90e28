"""Thin routes: the dashboard for the last 7, 30 or 90 days, and each of its tables as CSV."""

from __future__ import annotations

from flask import Response, abort, render_template, request
from flask_login import current_user, login_required

from app.blueprints.analytics import bp
from app.downloads import attachment
from app.services.analytics import dashboard, tables

DEFAULT_DAYS = 30


def _days() -> int:
    """The range asked for; anything else (a typo, an old bookmark) is the default range."""
    raw = request.args.get("days", "")
    return int(raw) if raw.isdigit() and int(raw) in dashboard.RANGES else DEFAULT_DAYS


@bp.get("/analytics")
@login_required
def index() -> str:
    days = _days()
    start, end = dashboard.last_days(days)
    found = dashboard.summary(current_user.id, start, end)
    return render_template(
        "analytics/index.html",
        summary=found,
        days=days,
        ranges=dashboard.RANGES,
        charts=tables.chart_data(found),
        tables=tables.TABLES,
    )


@bp.get("/analytics/<table>.csv")
@login_required
def download(table: str) -> Response:
    if table not in tables.TABLES:
        abort(404)
    days = _days()
    start, end = dashboard.last_days(days)
    found = dashboard.summary(current_user.id, start, end)
    data = tables.as_csv(tables.rows(found, table))
    return attachment(data, "text/csv; charset=utf-8", f"{table}-{start}-to-{end}.csv")
