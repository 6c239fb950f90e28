"""The analytics dashboard, its CSV downloads and the analytics API, after traffic seeded
through the real recording path (tests/analytics_support.py)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from app.models.analytics import AnalyticsEvent
from app.services.analytics import recorder
from tests.analytics_support import BLOG, EXPECTED, MASTODON, seed
from tests.web.test_api_images import bearer


@pytest.fixture
def people(make_user):
    return make_user(email="pat@example.com", name="Pat"), make_user(email="sam@example.com")


@pytest.fixture
def seeded(client, run_jobs, people):
    pat, sam = people
    return seed(client, run_jobs, pat, sam)


def cells(html: str, table_id: str) -> list[list[str]]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)[0]
    body = table.split("<tbody>")[1]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def download(client, name: str, days: int = 7) -> list[list[str]]:
    response = client.get(f"/analytics/{name}.csv?days={days}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"].startswith(f'attachment; filename="{name}-')
    return list(csv.reader(io.StringIO(response.data.decode())))


def test_the_dashboard_shows_the_seeded_numbers(client, login, people, seeded):
    pat, _ = people
    login(pat)
    html = client.get("/analytics?days=7").text
    assert 'href="/analytics"' in client.get("/").text or "Analytics" in html
    stats = re.findall(r'<p class="stat">(\d+)</p>', html)
    assert stats == [str(EXPECTED["page_views"]), str(EXPECTED["uniques"]),
                     str(EXPECTED["link_clicks"]), "0"]  # fmt: skip
    assert cells(html, "table-links") == [[url, str(n)] for url, n in EXPECTED["links"]]
    assert cells(html, "table-referrers") == [[h, str(n)] for h, n in EXPECTED["referrers"]]
    assert cells(html, "table-sync") == [
        ["Mastodon", "3", "66.7%", "60.0 s"],
        ["X", "1", "0.0%", "—"],
    ]
    failures = cells(html, "table-failures")
    assert sorted((row[1], row[2], row[3]) for row in failures) == [
        ("Mastodon", "@pat@masto.example", "The image is too big."),
        ("X", "@patq", "X refused our access."),
    ]
    # Three charts, their numbers in the page for static/js/analytics.js (no inline script).
    assert len(re.findall(r'<canvas id="chart-(visits|followers|sync)"', html)) == 3
    assert "vendor/chartjs/chart.umd.min.js" in html and "<script>" not in html
    # Sam's visitors, links, failures and followers are nowhere on Pat's page.
    for theirs in ("sams-fans.example", "sam.example", "Sam&#39;s failure", "9999", "@sam@"):
        assert theirs not in html


def test_each_table_downloads_as_the_same_csv(client, login, people, seeded):
    login(people[0])
    assert download(client, "links") == [["link", "clicks"], [BLOG, "3"], [MASTODON, "1"]]
    assert download(client, "referrers")[1:] == [[h, str(n)] for h, n in EXPECTED["referrers"]]
    assert download(client, "sync") == [
        ["platform", "attempted", "live", "failed", "success %", "median time to live (s)"],
        ["Mastodon", "3", "2", "1", "66.7", "60.0"],
        ["X", "1", "0", "1", "0.0", ""],
    ]
    daily = download(client, "daily")
    assert len(daily) == 1 + 7
    assert sum(int(row[1]) for row in daily[1:]) == EXPECTED["page_views"]
    assert sum(int(row[3]) for row in daily[1:]) == EXPECTED["link_clicks"]
    followers = download(client, "followers")
    assert followers[-1][1:] == ["X", "@patq", "42"] and len(followers) == 1 + 8
    assert [row[3] for row in followers[1:8]] == [str(100 + 5 * n) for n in range(7)]
    assert download(client, "failures")[0] == ["time (UTC)", "platform", "account", "error"]
    assert client.get("/analytics/passwords.csv").status_code == 404


def test_csv_cells_stay_text_in_a_spreadsheet(client, login, people, run_jobs):
    from app.services.analytics.tables import as_csv

    assert as_csv([['=HYPERLINK("x")', 'say "hi", then\nleave', 3]]) == (
        b'"\'=HYPERLINK(""x"")","say ""hi"", then\nleave",3\r\n'
    )


def test_an_empty_dashboard_says_so(client, login, people):
    login(people[0])
    html = client.get("/analytics").text
    assert "Nothing recorded yet" in html and "<canvas" not in html
    # Unknown ranges fall back to 30 days rather than failing.
    for days in ("x", "-1", "7000", "", "30.5"):
        assert client.get(f"/analytics?days={days}").status_code == 200


def test_the_api_summary_matches_the_seeded_traffic(client, people, seeded):
    pat, _ = people
    today = datetime.now(UTC).date()
    start = today - timedelta(days=6)
    response = client.get(f"/api/v1/analytics/summary?from={start}&to={today}", headers=bearer(pat))
    assert response.status_code == 200
    body = response.json
    assert body["from"] == str(start) and body["to"] == str(today) and len(body["days"]) == 7
    assert body["totals"]["page_views"] == EXPECTED["page_views"]
    assert body["totals"]["uniques"] == EXPECTED["uniques"]
    assert body["totals"]["link_clicks"] == EXPECTED["link_clicks"]
    assert body["days"][-1] == {
        "day": str(today),
        "page_views": 4,
        "uniques": 3,
        "link_clicks": 3,
        "avatar_fetches": 0,
        "banner_fetches": 0,
    }
    assert [(r["url"], r["clicks"]) for r in body["top_links"]] == EXPECTED["links"]
    assert [(r["host"], r["views"]) for r in body["top_referrers"]] == EXPECTED["referrers"]
    by_platform = {row["platform"]: row for row in body["sync"]}
    assert by_platform["mastodon"]["success_rate"] == 66.7
    assert by_platform["mastodon"]["median_time_to_live_seconds"] == 60.0
    assert by_platform["x"]["attempted"] == 1 and by_platform["x"]["live"] == 0
    assert {(f["platform"], f["points"][-1]["count"]) for f in body["followers"]} == {
        ("mastodon", 130),
        ("x", 42),
    }
    # Only today: the older day is out of range.
    today_only = client.get(
        f"/api/v1/analytics/summary?from={today}&to={today}", headers=bearer(pat)
    ).json
    assert today_only["totals"]["page_views"] == 4


@pytest.mark.parametrize(
    "query, field",
    [
        ("from=2026-02-30&to=2026-03-01", "from"),
        ("from=yesterday", "from"),
        ("to=2026-1-1", "to"),
        ("from=2026-03-02&to=2026-03-01", "from"),
        ("from=2024-01-01&to=2026-01-01", "to"),
        ("from=2026-13-01&to=2026-12-01", "from"),
    ],
)
def test_the_api_summary_refuses_bad_ranges(client, people, query, field):
    response = client.get(f"/api/v1/analytics/summary?{query}", headers=bearer(people[0]))
    assert response.status_code == 422
    assert field in response.json["fields"] and response.json["error"]


def test_the_events_cursor_walks_every_event_once(client, people, run_jobs):
    pat, sam = people
    add = recorder().add
    then = datetime.now(UTC) - timedelta(hours=1)
    for n in range(230):
        add("page_view", pat.id, at=then, visitor=f"v{n}", bot=False)
    for _ in range(15):
        add("link_click", pat.id, at=then, visitor="v1", bot=False, subject=BLOG)
    add("sync_task", pat.id, subject="mastodon", outcome="succeeded", duration_ms=1234)
    add("page_view", sam.id, at=then, visitor="sam", bot=False)
    from app.jobs import enqueue

    enqueue("flush_analytics")
    run_jobs()
    auth = bearer(pat)
    seen, cursor, pages = [], None, 0
    while True:
        url = "/api/v1/analytics/events" + (f"?cursor={cursor}" if cursor else "")
        body = client.get(url, headers=auth).json
        assert len(body["events"]) <= 100
        seen += body["events"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 246
    ids = [event["id"] for event in seen]
    assert ids == sorted(set(ids), reverse=True)  # newest first, none twice
    assert {event["id"] for event in seen} == {
        e.id for e in db.session.scalars(db.select(AnalyticsEvent).filter_by(user_id=pat.id))
    }
    sync = next(event for event in seen if event["type"] == "sync_task")
    assert (sync["subject"], sync["outcome"], sync["duration_ms"]) == (
        "mastodon",
        "succeeded",
        1234,
    )
    clicks = client.get("/api/v1/analytics/events?type=link_click", headers=auth).json
    assert len(clicks["events"]) == 15 and clicks["next_cursor"] is None
    assert {event["subject"] for event in clicks["events"]} == {BLOG}
    # Sam's token sees Sam's one event.
    assert len(client.get("/api/v1/analytics/events", headers=bearer(sam)).json["events"]) == 1


@pytest.mark.parametrize(
    "query, field",
    [
        ("type=login", "type"),
        ("cursor=abc", "cursor"),
        ("cursor=-5", "cursor"),
        ("cursor=99999999999999999999999", "cursor"),
        ("cursor=0", "cursor"),
        ("cursor=%C2%B2", "cursor"),
    ],
)
def test_the_events_api_refuses_bad_queries(client, people, query, field):
    response = client.get(f"/api/v1/analytics/events?{query}", headers=bearer(people[0]))
    assert response.status_code == 422 and field in response.json["fields"]


def test_the_analytics_api_needs_a_token(client):
    assert client.get("/api/v1/analytics/summary").status_code == 401
    assert client.get("/api/v1/analytics/events").status_code == 401
