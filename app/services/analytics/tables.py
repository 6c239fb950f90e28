"""The dashboard's tables (shown and downloaded as CSV) and its chart data, from a Summary."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from app.services.analytics.dashboard import Summary

HANDLE = re.compile(r"@[\w.-]+(@[\w.-]+)?")

# name → title; each is a table on the page and /analytics/<name>.csv
TABLES = {
    "daily": "Visits per day",
    "links": "Top links",
    "referrers": "Top referrers",
    "sync": "Sync per platform",
    "failures": "Recent failures",
    "followers": "Followers",
}


def rows(found: Summary, name: str) -> list[list[Any]]:
    """The table's header row, then its rows."""
    if name == "daily":
        return [
            ["day", "page views", "unique visitors", "link clicks", "avatar fetches",
             "banner fetches"],
            *[
                [day.isoformat(), *(found.series[key][n] for key in (
                    "page_views", "uniques", "link_clicks", "avatar_fetches", "banner_fetches"))]
                for n, day in enumerate(found.days)
            ],
        ]  # fmt: skip
    if name == "links":
        return [["link", "clicks"], *[[url, clicks] for url, clicks in found.top_links]]
    if name == "referrers":
        return [["referrer", "page views"], *[[h, views] for h, views in found.top_referrers]]
    if name == "sync":
        return [
            ["platform", "attempted", "live", "failed", "success %", "median time to live (s)"],
            *[
                [e.label, e.attempted, e.live, e.failed, _blank(e.success_rate),
                 _blank(e.median_seconds)]
                for e in found.sync
            ],
        ]  # fmt: skip
    if name == "failures":
        return [
            ["time (UTC)", "platform", "account", "error"],
            *[
                [f["at"].strftime("%Y-%m-%d %H:%M:%S"), f["label"], f["handle"], f["error"]]
                for f in found.failures
            ],
        ]
    if name == "followers":
        return [
            ["day", "platform", "account", "followers"],
            *[
                [day.isoformat(), _platform(entry), entry["handle"], count]
                for entry in found.followers
                for day, count in entry["points"]
            ],
        ]
    raise KeyError(name)


def _platform(entry: dict[str, Any]) -> str:
    return entry["label"].removesuffix(" " + entry["handle"])


def _blank(value: Any) -> Any:
    return "" if value is None else value


def _cell(value: Any) -> Any:
    # A spreadsheet runs a cell that starts with = + - @ as a formula: an error message or a
    # link someone else wrote must stay text. A plain handle (@pat@masto.example) cannot run.
    risky = isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r")
    if risky and not HANDLE.fullmatch(value):
        return "'" + value
    return value


def as_csv(table: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in table:
        writer.writerow([_cell(value) for value in row])
    return out.getvalue().encode("utf-8")


def chart_data(found: Summary) -> dict[str, Any]:
    """What static/js/analytics.js draws, embedded in the page as JSON (no inline script)."""
    labels = [day.isoformat() for day in found.days]
    return {
        "visits": {
            "labels": labels,
            "datasets": [
                {"label": "Page views (people)", "data": found.series["page_views"]},
                {"label": "Unique visitors", "data": found.series["uniques"]},
                {"label": "Link clicks", "data": found.series["link_clicks"]},
            ],
        },
        "followers": {
            "labels": labels,
            "datasets": [
                {
                    "label": entry["label"],
                    "data": _on_days(found, dict(entry["points"])),
                }
                for entry in found.followers
            ],
        },
        "sync": {
            "labels": [entry.label for entry in found.sync],
            "datasets": [
                {
                    "label": "Success %",
                    "data": [entry.success_rate or 0 for entry in found.sync],
                }
            ],
        },
    }


def _on_days(found: Summary, points: dict) -> list[int | None]:
    return [points.get(day) for day in found.days]
