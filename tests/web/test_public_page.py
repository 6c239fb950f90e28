"""The public page /@<handle> and the image URLs that follow the person's current pictures."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from app.extensions import db
from app.models.profile import HandleRedirect, Profile
from tests.conftest import fetch_stored
from tests.sync_rows import make_images

LINKS = [
    {"label": "Mastodon", "url": "https://mastodon.example/@pat"},
    {"label": "Blog", "url": "https://pat.example/blog"},
]


def make_profile(user, handle="PatQ", **values) -> Profile:
    fields = {
        "display_name": "Pat Quinn",
        "bio": "Draws birds.\nLives by the sea.",
        "website": "https://pat.example",
        "location": "Lisbon",
        "links": LINKS,
        "public": True,
        "shown_fields": {},
        "indexable": True,
        **values,
    }
    profile = Profile(user_id=user.id, handle=handle, handle_key=handle.lower(), **fields)
    db.session.add(profile)
    db.session.commit()
    return profile


@pytest.fixture
def pat(make_user, run_jobs):
    user = make_user(email="pat@example.com", name="Pat")
    avatar, banner = make_images(user, run_jobs)
    return user, avatar, banner


def meta(html: str, key: str) -> str | None:
    found = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)"', html)
    return found[1].replace("&amp;", "&") if found else None


def stored(client, url: str):
    """Fetch a URL the page handed out (absolute /media URLs go through the app)."""
    parts = urlsplit(url)
    if parts.hostname == "localhost":
        return fetch_stored(client, parts.path)
    return fetch_stored(client, url)


def test_page_shows_the_profile_with_rel_me_links(client, pat):
    user, _, _ = pat
    make_profile(user)
    response = client.get("/@patq")  # any case finds the handle
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Pat Quinn" in html and "Lisbon" in html and "Draws birds." in html
    # Every address is claimed with rel="me" (what Mastodon verifies); the visible links go
    # through /l/<id>, which counts the click and lands on the same address.
    me = re.findall(r'<link rel="me" href="([^"]+)">', html)
    assert set(me) == {"https://pat.example", *(link["url"] for link in LINKS)}
    anchors = re.findall(r'<a class="public-(?:link|website)" rel="noopener" href="([^"]+)">', html)
    assert len(anchors) == 3 and all(href.startswith("/l/") for href in anchors)
    landed = {client.get(href).headers["Location"] for href in anchors}
    assert landed == set(me)
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert "Set-Cookie" not in response.headers  # the same bytes for everyone
    assert 'name="robots"' not in html and "X-Robots-Tag" not in response.headers


def test_opengraph_tags_point_at_files_that_exist(client, pat):
    user, avatar, banner = pat
    make_profile(user)
    html = client.get("/@PatQ").get_data(as_text=True)
    assert meta(html, "og:title") == "Pat Quinn"
    assert meta(html, "og:description").startswith("Draws birds.")
    assert meta(html, "twitter:card") == "summary_large_image"
    og_image = meta(html, "og:image")
    assert og_image.startswith(("http://", "https://"))
    assert meta(html, "twitter:image") == og_image
    assert (meta(html, "og:image:width"), meta(html, "og:image:height")) == ("1500", "500")
    fetched = stored(client, og_image)
    assert fetched.status_code == 200
    assert fetched.content[:2] == b"\xff\xd8"  # a JPEG, the banner's 1500 px file
    for src in re.findall(r'<img[^>]* src="([^"]+)"', html):
        assert stored(client, src.replace("&amp;", "&")).status_code == 200


def test_without_a_banner_the_card_uses_the_avatar(client, pat):
    user, _, banner = pat
    make_profile(user, shown_fields={"banner": False})
    html = client.get("/@PatQ").get_data(as_text=True)
    assert meta(html, "twitter:card") == "summary"
    assert meta(html, "og:image:width") == meta(html, "og:image:height")
    assert stored(client, meta(html, "og:image")).status_code == 200
    assert client.get("/@PatQ/banner?w=600").status_code == 404


def test_private_and_unknown_are_the_same_404(client, make_user):
    user = make_user()
    make_profile(user, handle="hidden", public=False)
    private = client.get("/@hidden")
    unknown = client.get("/@nobody-here")
    assert private.status_code == unknown.status_code == 404
    assert private.get_data(as_text=True) == unknown.get_data(as_text=True)
    assert client.get("/@hidden/avatar?s=64").status_code == 404
    assert client.get("/@" + "x" * 200).status_code == 404
    assert client.get("/@hid%00den").status_code == 404


def test_revalidation_answers_304_until_something_changes(client, pat):
    user, _, _ = pat
    profile = make_profile(user)
    first = client.get("/@PatQ")
    etag = first.headers["ETag"]
    assert first.headers["Last-Modified"]
    again = client.get("/@PatQ", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    since = client.get("/@PatQ", headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 304
    profile.bio = "Now draws fish."
    profile.updated_at = datetime.now(UTC) + timedelta(seconds=2)
    db.session.commit()
    changed = client.get("/@PatQ", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and "Now draws fish." in changed.get_data(as_text=True)
    assert changed.headers["ETag"] != etag


def test_a_new_current_image_changes_the_etag(client, pat, run_jobs):
    user, _, _ = pat
    make_profile(user)
    etag = client.get("/@PatQ").headers["ETag"]
    from app.services.images import library

    newer, _ = make_images(user, run_jobs, seed=9)
    library.set_current(newer)
    db.session.commit()
    assert client.get("/@PatQ", headers={"If-None-Match": etag}).status_code == 200


def test_an_old_handle_redirects_while_it_lasts(client, pat):
    user, _, _ = pat
    make_profile(user, handle="NewPat")
    db.session.add(
        HandleRedirect(
            handle_key="oldpat", user_id=user.id, expires_at=datetime.now(UTC) + timedelta(days=3)
        )
    )
    db.session.add(
        HandleRedirect(
            handle_key="ancient", user_id=user.id, expires_at=datetime.now(UTC) - timedelta(days=1)
        )
    )
    db.session.commit()
    moved = client.get("/@OldPat")
    assert moved.status_code == 301
    assert urlsplit(moved.headers["Location"]).path == "/@NewPat"
    assert "max-age" in moved.headers["Cache-Control"]  # not kept forever
    assert client.get("/@ancient").status_code == 404


def test_hidden_from_search_engines(client, pat):
    user, _, _ = pat
    make_profile(user, indexable=False)
    response = client.get("/@PatQ")
    assert '<meta name="robots" content="noindex">' in response.get_data(as_text=True)
    assert response.headers["X-Robots-Tag"] == "noindex"


def test_shown_fields_hide_the_location(client, pat):
    user, _, _ = pat
    make_profile(user, shown_fields={"location": False, "bio": True})
    html = client.get("/@PatQ").get_data(as_text=True)
    assert "Lisbon" not in html
    assert "Draws birds." in html


def test_links_that_are_not_http_are_left_out(client, make_user):
    user = make_user()
    make_profile(user, links=[{"label": "Evil", "url": "javascript:alert(1)"}, *LINKS])
    html = client.get("/@PatQ").get_data(as_text=True)
    assert "javascript:" not in html and "Evil" not in html
    assert "public-avatar-initial" in html  # no pictures yet: the initial stands in


def _redirected_variant(response, image):
    assert response.status_code == 302
    location = response.headers["Location"]
    return next(v for v in image.variants if urlsplit(v.storage_key).path in location)


def test_avatar_follows_to_the_smallest_file_big_enough(client, pat):
    user, avatar, _ = pat
    make_profile(user)
    response = client.get("/@patq/avatar?s=64")
    variant = _redirected_variant(response, avatar)
    assert variant.width == 64
    assert "max-age=300" in response.headers["Cache-Control"] and response.headers["ETag"]
    assert stored(client, response.headers["Location"]).status_code == 200
    assert _redirected_variant(client.get("/@patq/avatar?s=300"), avatar).width == 400
    assert _redirected_variant(client.get("/@patq/avatar?s=5000"), avatar).width == max(
        v.width for v in avatar.variants
    )


def test_banner_follows_to_the_largest_when_asked_too_much(client, pat):
    user, _, banner = pat
    make_profile(user)
    variant = _redirected_variant(client.get("/@patq/banner?w=9999"), banner)
    assert variant.width == max(v.width for v in banner.variants)
    assert _redirected_variant(client.get("/@patq/banner?w=700"), banner).width == 1500


@pytest.mark.parametrize("query", ["", "?s=", "?s=abc", "?s=0", "?s=-5", "?s=1.5", "?s=99999999"])
def test_a_bad_size_is_a_readable_400(client, pat, query):
    user, _, _ = pat
    make_profile(user)
    response = client.get(f"/@patq/avatar{query}")
    assert response.status_code == 400
    assert "whole number" in response.get_data(as_text=True)


def test_no_current_image_is_404(client, make_user):
    make_profile(make_user())
    assert client.get("/@PatQ/avatar?s=64").status_code == 404
    assert client.get("/@PatQ/banner?w=600").status_code == 404


def test_each_process_reuses_a_lookup_for_a_moment(app, client, pat, monkeypatch):
    from app.blueprints.public import routes

    user, _, _ = pat
    profile = make_profile(user)
    app.config["PUBLIC_PAGE_CACHE_SECONDS"] = 30
    clock = [1000.0]
    monkeypatch.setattr(routes.time, "monotonic", lambda: clock[0])
    try:
        assert client.get("/@PatQ").status_code == 200
        profile.public = False
        db.session.commit()
        assert client.get("/@PatQ").status_code == 200  # within the moment: the same answer
        clock[0] += 31
        assert client.get("/@PatQ").status_code == 404  # then the database's word
    finally:
        app.config["PUBLIC_PAGE_CACHE_SECONDS"] = 0
        routes._LOOKUPS.clear()


def test_a_page_rendered_a_moment_ago_is_handed_out_again_before_flask(
    app, client, pat, monkeypatch, caplog
):
    from app.blueprints.public import recent

    user, _, _ = pat
    profile = make_profile(user)
    app.config["PUBLIC_PAGE_CACHE_SECONDS"] = 30
    clock = [1000.0]
    monkeypatch.setattr(recent.time, "monotonic", lambda: clock[0])
    layer = next(
        layer for layer in _layers(app.wsgi_app) if isinstance(layer, recent.RecentPublicPages)
    )
    try:
        first = client.get("/@PatQ")
        assert first.status_code == 200
        profile.bio = "Changed a moment ago."
        db.session.commit()
        caplog.clear()
        again = client.get("/@PatQ")
        # The same bytes and validators, a request id of its own, a log line like the view's.
        assert again.get_data() == first.get_data() and "Draws birds." in again.text
        assert again.headers["ETag"] == first.headers["ETag"]
        assert again.headers["Cache-Control"] == "public, max-age=60"
        assert again.headers["X-Request-ID"] != first.headers["X-Request-ID"]
        lines = [r for r in caplog.records if getattr(r, "event", None) == "request"]
        assert [(r.path, r.status) for r in lines] == [("/@PatQ", 200)]
        revalidated = client.get("/@PatQ", headers={"If-None-Match": first.headers["ETag"]})
        assert revalidated.status_code == 304 and revalidated.get_data() == b""
        assert client.head("/@PatQ").get_data() == b""
        # Other addresses are the view's: a query string, another page, a POST.
        assert client.get("/@PatQ/avatar?s=64").status_code in (200, 302)
        clock[0] += 31
        assert "Changed a moment ago." in client.get("/@PatQ").text  # then the database's word
        profile.public = False
        db.session.commit()
        clock[0] += 31
        assert client.get("/@PatQ").status_code == 404
        assert client.get("/@PatQ").status_code == 404  # a 404 is never kept
        assert all(page.body for page in layer.pages.values())
    finally:
        app.config["PUBLIC_PAGE_CACHE_SECONDS"] = 0
        layer.pages.clear()
        from app.blueprints.public import routes

        routes._LOOKUPS.clear()


def test_a_returning_visitor_first_in_the_moment_gets_a_304_and_the_page_is_kept(app, client, pat):
    from app.blueprints.public import recent

    user, _, _ = pat
    make_profile(user)
    etag = client.get("/@PatQ").headers["ETag"]  # rendered while the layer is off
    layer = next(x for x in _layers(app.wsgi_app) if isinstance(x, recent.RecentPublicPages))
    app.config["PUBLIC_PAGE_CACHE_SECONDS"] = 30
    try:
        revalidated = client.get("/@PatQ", headers={"If-None-Match": etag})
        assert revalidated.status_code == 304 and revalidated.headers["ETag"] == etag
        assert [page.etag for page in layer.pages.values()] == [etag]
        assert "Pat Quinn" in client.get("/@PatQ").text
    finally:
        app.config["PUBLIC_PAGE_CACHE_SECONDS"] = 0
        layer.pages.clear()
        from app.blueprints.public import routes

        routes._LOOKUPS.clear()


def _layers(wsgi_app):
    """The WSGI layers around Flask, outermost first."""
    while wsgi_app is not None:
        yield wsgi_app
        wsgi_app = getattr(wsgi_app, "wsgi_app", None) or getattr(wsgi_app, "app", None)


def test_an_edit_in_the_same_second_is_a_new_etag(client, pat):
    user, _, _ = pat
    profile = make_profile(user)
    first = client.get("/@PatQ")
    profile.bio = "Changed within the second."
    db.session.commit()
    again = client.get("/@PatQ", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200 and "Changed within the second." in again.text
    assert again.headers["ETag"] != first.headers["ETag"]
