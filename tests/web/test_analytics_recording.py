"""Visits to public pages are counted without keeping anyone's address: buffered, written in a
batch by the flush job, rolled up per day; bots apart, DNT / GPC visitors not at all."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.jobs import enqueue
from app.models.analytics import AnalyticsEvent, DailyCount, VisitorSalt
from app.services.analytics import prune, recorder, rollup_day
from app.services.analytics.visitors import visit
from tests.web.test_public_page import _layers, make_profile

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
ADDRESS = "203.0.113.77"


def visitor(ua: str = BROWSER, address: str = ADDRESS, **headers: str) -> dict:
    return {
        "environ_base": {"REMOTE_ADDR": address},
        "headers": {"User-Agent": ua, **headers},
    }


def flushed(run_jobs) -> list[AnalyticsEvent]:
    enqueue("flush_analytics")
    run_jobs()
    return list(db.session.scalars(select(AnalyticsEvent).order_by(AnalyticsEvent.id)))


def test_views_are_counted_per_visitor_with_no_address_stored(client, make_user, run_jobs):
    owner = make_user(email="pat@example.com")
    make_profile(owner)
    for _ in range(2):
        assert (
            client.get("/@PatQ", **visitor(Referer="https://news.example/item?id=9")).status_code
            == 200
        )
    client.get("/@PatQ", **visitor(address="198.51.100.5"))
    client.get("/@PatQ", **visitor(ua="Mozilla/5.0 (compatible; Googlebot/2.1)"))
    client.get("/@PatQ", **visitor(**{"Sec-GPC": "1"}))
    client.get("/@PatQ", **visitor(address="198.51.100.6", DNT="1"))
    client.head("/@PatQ", **visitor())  # a HEAD is not a view

    events = flushed(run_jobs)
    assert [(e.kind, e.user_id, e.bot) for e in events] == [("page_view", owner.id, False)] * 3 + [
        ("page_view", owner.id, True)
    ]
    first, second, other, _ = events
    assert first.visitor == second.visitor != other.visitor and len(first.visitor) == 32
    assert first.referrer == "news.example" and other.referrer is None

    # Nothing anywhere in the database holds either address, in any table or column.
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(text(f'SELECT * FROM "{table.name}"')):
            dump = " ".join(map(str, row))
            assert ADDRESS not in dump and "198.51.100.5" not in dump, table.name

    today = datetime.now(UTC).date()
    rollup_day(today)
    db.session.commit()
    counts = {
        (row.kind, row.subject): (row.count, row.uniques, row.bots)
        for row in db.session.scalars(select(DailyCount).where(DailyCount.day == today))
    }
    assert counts == {("page_view", ""): (3, 2, 1), ("referrer", "news.example"): (2, 1, 0)}
    rollup_day(today)  # again: the same rows, not twice as many
    db.session.commit()
    assert db.session.scalar(select(db.func.sum(DailyCount.count))) == 5


def test_the_same_visitor_on_two_days_is_two_different_hashes(app):
    environ = {"REMOTE_ADDR": ADDRESS, "HTTP_USER_AGENT": BROWSER}
    salts = recorder().salts
    monday = datetime(2026, 11, 30, 9, tzinfo=UTC)

    def seen(moment: datetime):
        return visit(environ, salts.for_day(db.engine, moment.date()))

    once, again = seen(monday), seen(monday + timedelta(hours=8))
    tuesday = seen(monday + timedelta(days=1))
    assert once.visitor == again.visitor != tuesday.visitor
    assert ADDRESS not in once.visitor
    # The day over, its salt is deleted: Monday's hashes can no longer be linked to anything.
    pruned = prune(monday + timedelta(days=1, hours=1), retention_days=90)
    db.session.commit()
    assert pruned["salts"] == 1
    assert [s.day for s in db.session.scalars(select(VisitorSalt))] == [tuesday_day(monday)]


def tuesday_day(monday: datetime):
    return (monday + timedelta(days=1)).date()


def test_pages_handed_out_by_the_layer_are_counted_too(app, client, make_user, run_jobs):
    from app.blueprints.public import recent, routes

    make_profile(make_user(email="pat@example.com"))
    layer = next(x for x in _layers(app.wsgi_app) if isinstance(x, recent.RecentPublicPages))
    app.config["PUBLIC_PAGE_CACHE_SECONDS"] = 30
    try:
        etag = client.get("/@PatQ", **visitor()).headers["ETag"]
        client.get("/@PatQ", **visitor())
        client.get("/@PatQ", **visitor(address="198.51.100.5", **{"If-None-Match": etag}))
        assert len(layer.pages) == 1
    finally:
        app.config["PUBLIC_PAGE_CACHE_SECONDS"] = 0
        layer.pages.clear()
        routes._LOOKUPS.clear()
    assert [e.kind for e in flushed(run_jobs)] == ["page_view"] * 3


def test_picture_fetches_are_counted(client, make_user, run_jobs):
    from tests.sync_rows import make_images

    owner = make_user(email="pat@example.com")
    make_images(owner, run_jobs)
    make_profile(owner)
    assert client.get("/@PatQ/avatar?s=64", **visitor()).status_code == 302
    assert client.get("/@PatQ/banner?w=600", **visitor()).status_code == 302
    assert client.get("/@PatQ/avatar?s=abc", **visitor()).status_code == 400  # not counted
    events = flushed(run_jobs)
    assert [e.kind for e in events if e.kind.endswith("_fetch")] == ["avatar_fetch", "banner_fetch"]
    # make_images uploaded both pictures: each upload is an event of its owner's too.
    uploads = [(e.kind, e.subject, e.user_id) for e in events if e.kind == "upload"]
    assert uploads == [("upload", "avatar", owner.id), ("upload", "banner", owner.id)]


def test_a_saved_crop_is_recorded_and_a_repeated_upload_is_not(client, make_user, run_jobs):
    from app.services.images import library
    from tests.images import avatar_jpeg

    owner = make_user(email="pat@example.com")
    image, created = library.create_upload(owner.id, "avatar", avatar_jpeg(seed=3), "me.jpg")
    again, created_again = library.create_upload(owner.id, "avatar", avatar_jpeg(seed=3), "me.jpg")
    assert created and not created_again and again.id == image.id
    box = {"x": 0, "y": 0, "w": image.width // 2, "h": image.height // 2}
    library.save_crop(image, {"box": box})
    db.session.commit()
    kinds = [(e.kind, e.subject) for e in flushed(run_jobs)]
    assert kinds == [("upload", "avatar"), ("crop_save", "avatar")]


def test_turned_off_nothing_is_recorded(app, client, make_user, run_jobs):
    make_profile(make_user(email="pat@example.com"))
    app.config["ANALYTICS_ENABLED"] = False
    try:
        client.get("/@PatQ", **visitor())
    finally:
        app.config["ANALYTICS_ENABLED"] = True
    assert flushed(run_jobs) == []


def test_the_rollup_command_rebuilds_a_chosen_day(app, client, make_user):
    owner = make_user(email="pat@example.com")
    make_profile(owner)
    client.get("/@PatQ", **visitor())
    day = datetime.now(UTC).date()
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["analytics", "rollup", "--day", day.isoformat()])
        assert result.exit_code == 0, result.output
        assert f"days {day}: 1 daily rows" in result.output
    assert db.session.scalar(select(DailyCount.count).where(DailyCount.user_id == owner.id)) == 1
    bad = runner.invoke(args=["analytics", "rollup", "--day", "yesterday"])
    assert bad.exit_code == 2 and "yesterday" in bad.output


def test_link_clicks_are_counted_and_only_real_links_redirect(client, make_user, run_jobs):
    owner = make_user(email="pat@example.com")
    profile = make_profile(owner)
    html = client.get("/@PatQ").text
    hrefs = re.findall(r'class="public-link" rel="noopener" href="(/l/[^"]+)"', html)
    assert len(hrefs) == 2
    landed = client.get(hrefs[1], **visitor())
    assert landed.status_code == 302 and landed.headers["Location"] == "https://pat.example/blog"
    assert landed.headers["Cache-Control"] == "no-store"
    client.get(hrefs[1], **visitor(DNT="1"))  # followed, not counted
    # Made-up ids, another person's number, a link since removed: 404, never a redirect.
    for bad in ("/l/1.000000000000", f"/l/{owner.id + 1}.{hrefs[0][-12:]}", "/l/x", "/l/1.ZZ"):
        assert client.get(bad).status_code == 404, bad
    profile.links = profile.links[:1]
    db.session.commit()
    assert client.get(hrefs[1]).status_code == 404
    profile.public = False
    db.session.commit()
    assert client.get(hrefs[0]).status_code == 404
    clicks = [(e.kind, e.subject) for e in flushed(run_jobs) if e.kind == "link_click"]
    assert clicks == [("link_click", "https://pat.example/blog")]


@pytest.mark.services  # the Redis list every web process feeds
def test_each_process_gathers_visits_and_appends_them_in_batches(app, redis_client, monkeypatch):
    from app.services.analytics import recording

    buffer = recording.RedisBuffer(redis_client, app.config["QUEUE_PREFIX"] + "analytics-test")
    monkeypatch.setattr(recording, "BATCH", 3)
    buffer.add("one")
    buffer.add("two")
    assert redis_client.llen(buffer.key) == 0  # gathered in the process, not a round trip each
    buffer.add("three")  # a full batch goes at once
    assert redis_client.llen(buffer.key) == 3
    buffer.add("four")
    assert buffer.take(10) == ["one", "two", "three", "four"]  # the process's own gathered too
    buffer._push_quietly()  # what the timer thread does every PUSH_SECONDS
    assert redis_client.llen(buffer.key) == 0
