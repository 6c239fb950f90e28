"""Traffic for the analytics tests, made through the real recording path: public page views
and link clicks over HTTP, the flush job, the rollup; older days through the recorder with
their own time, then rolled up like the job does. Sync outcomes and follower counts as rows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from app.extensions import db
from app.jobs import enqueue
from app.models import TaskStatus
from app.models.analytics import FollowerCount
from app.services.analytics import recorder, rollup_day
from tests.sync_rows import make_account, make_release
from tests.web.test_public_page import make_profile

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Safari/604.1"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
BLOG = "https://pat.example/blog"
MASTODON = "https://mastodon.example/@pat"
DAYS_AGO = 3  # the older day's traffic, read from the daily counts

# What seed() makes Pat's numbers, over the last 7 days.
EXPECTED = {
    "page_views": 4 + 3,  # today 4 people (1 bot apart), 3 days ago 3
    "uniques": 3 + 2,
    "link_clicks": 3 + 1,
    "links": [(BLOG, 3), (MASTODON, 1)],
    "referrers": [("news.example", 4), ("social.example", 1)],  # the bot's referrer not counted
}


def _as(client, path: str, ua: str, address: str, **headers: str):
    return client.get(
        path, environ_base={"REMOTE_ADDR": address}, headers={"User-Agent": ua, **headers}
    )


def seed(client, run_jobs, pat, sam) -> dict:
    make_profile(pat, handle="PatQ")
    make_profile(sam, handle="SamR", links=[{"label": "Shop", "url": "https://sam.example/"}])
    html = _as(client, "/@PatQ", BROWSER, "203.0.113.1", Referer="https://news.example/a").text
    hrefs = dict(
        (url, href)
        for href, url in zip(
            re.findall(r'class="public-link" rel="noopener" href="(/l/[^"]+)"', html),
            (MASTODON, BLOG),
            strict=True,
        )
    )
    _as(client, "/@PatQ", BROWSER, "203.0.113.1", Referer="https://news.example/b")
    _as(client, "/@PatQ", PHONE, "198.51.100.2", Referer="https://news.example/a")
    _as(client, "/@PatQ", PHONE, "198.51.100.3")
    _as(client, "/@PatQ", BOT, "66.249.66.1", Referer="https://bots.example/")
    for address in ("203.0.113.1", "198.51.100.2"):
        assert _as(client, hrefs[BLOG], BROWSER, address).status_code == 302
    _as(client, hrefs[BLOG], PHONE, "198.51.100.3")
    for n in range(5):  # Sam's visitors: never in Pat's numbers
        _as(client, "/@SamR", BROWSER, f"192.0.2.{n}", Referer="https://sams-fans.example/")
    sam_html = _as(client, "/@SamR", BROWSER, "192.0.2.9").text
    sam_link = re.findall(r'class="public-link" rel="noopener" href="(/l/[^"]+)"', sam_html)[0]
    _as(client, sam_link, BROWSER, "192.0.2.9")

    # Three days ago: recorded with its own time, then rolled up as the job does.
    then = datetime.now(UTC) - timedelta(days=DAYS_AGO)
    add = recorder().add
    for visitor, referrer in (("v1", "news.example"), ("v1", None), ("v2", "social.example")):
        add("page_view", pat.id, at=then, visitor=visitor, bot=False, referrer=referrer)
    add("link_click", pat.id, at=then, visitor="v2", bot=False, subject=MASTODON)
    add("page_view", sam.id, at=then, visitor="v9", bot=False, referrer="sams-fans.example")
    enqueue("flush_analytics")
    run_jobs()
    rollup_day(then.date())
    db.session.commit()

    # Sync: two Mastodon tasks live in 30 s and 90 s, one failed; one X task needing reconnect.
    now = datetime.now(UTC)
    mastodon = make_account(pat, handle="@pat@masto.example")
    x = make_account(pat, platform="x", handle="@patq", instance_url="")
    for wait, statuses in (
        (30, {"avatar": TaskStatus.SUCCEEDED, "banner": TaskStatus.FAILED}),
        (90, {"avatar": TaskStatus.SUCCEEDED}),
    ):
        release = make_release(pat, mastodon, statuses=statuses, error="The image is too big.")
        release.created_at = now - timedelta(seconds=wait)
        for task in release.tasks:
            task.finished_at = now
    make_release(
        pat, x, statuses={"avatar": TaskStatus.NEEDS_RECONNECT}, error="X refused our access."
    )
    sam_account = make_account(sam, handle="@sam@masto.example")
    make_release(sam, sam_account, statuses={"avatar": TaskStatus.FAILED}, error="Sam's failure")

    # Reach: a week of readings for Pat's Mastodon account, one for X.
    today = now.date()
    for n in range(7):
        day = today - timedelta(days=6 - n)
        db.session.add(FollowerCount(account_id=mastodon.id, day=day, count=100 + 5 * n))
    db.session.add(FollowerCount(account_id=x.id, day=today, count=42))
    db.session.add(FollowerCount(account_id=sam_account.id, day=today, count=9999))
    db.session.commit()
    return {"mastodon": mastodon, "x": x}
