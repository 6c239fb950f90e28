"""Facebook Pages: Facebook Login with the long-lived token exchange and the choice among the
Pages a person manages, through the web pages, against a loopback Facebook that checks the app
secret, redirect URI, scopes and Page tokens; pushes of the picture and cover as unpublished
photos, and what Graph's errors become."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.models import AccountStatus, PlatformAccount, TaskStatus, User
from app.services.platforms import connections, get
from app.services.platforms.base import (
    ChooseAccounts,
    ConnectFailed,
    Permanent,
    ReconnectNeeded,
    RetryLater,
)
from app.services.platforms.facebook_pages import NO_PAGES, regain_at
from app.services.sync import releases
from tests.images import add_user
from tests.peers.facebook_fake import CLIENT_ID, CLIENT_SECRET, FakeFacebookPages
from tests.sync_support import ready_images, settle, task_of, variant_bytes

CALLBACK = "http://localhost/connections/facebook_pages/callback"
SETTINGS = (
    "FACEBOOK_PAGES_CLIENT_ID",
    "FACEBOOK_PAGES_CLIENT_SECRET",
    "FACEBOOK_PAGES_AUTH_BASE_URL",
    "FACEBOOK_PAGES_API_BASE_URL",
)
BAKERY, CHOIR = "101", "202"  # the fake's Pages: Alice manages the first, only posts to the other


@pytest.fixture
def pat(make_user, login) -> User:
    """Pat, signed in on `client`."""
    user = make_user(email="pat@example.com", name="Pat")
    login(user)
    return user


@pytest.fixture
def fb(app, fake_facebook_pages: FakeFacebookPages) -> Iterator[FakeFacebookPages]:
    """This site configured with an app registered at the fake; settings restored afterwards."""
    before = {name: app.config.get(name) for name in SETTINGS}
    app.config.update(
        FACEBOOK_PAGES_CLIENT_ID=CLIENT_ID,
        FACEBOOK_PAGES_CLIENT_SECRET=CLIENT_SECRET,
        FACEBOOK_PAGES_AUTH_BASE_URL=fake_facebook_pages.url,
        FACEBOOK_PAGES_API_BASE_URL=fake_facebook_pages.url,
    )
    yield fake_facebook_pages
    app.config.update(before)


def text_of(response) -> str:
    return response.get_data(as_text=True)


def authorize(url: str) -> dict[str, str]:
    """The person's browser at Facebook: approve, and come back with a code."""
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(CALLBACK)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def sign_in_through_the_pages(client) -> object:
    """POST connect → Facebook's dialog → our callback; returns the callback's answer."""
    started = client.post("/connections/facebook_pages")
    assert started.status_code == 303
    at_facebook = requests.get(started.headers["Location"], allow_redirects=False, timeout=10)
    assert at_facebook.status_code == 302, at_facebook.text
    back = urlsplit(at_facebook.headers["Location"])
    return client.get(f"{back.path}?{back.query}")


def session_payload(client) -> str:
    """The Flask session cookie's content: signed, so readable by anyone holding the cookie."""
    value = client.get_cookie("session").value
    data = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    return (zlib.decompress(raw) if value.startswith(".") else raw).decode()


def connect(fake: FakeFacebookPages, user: User, page_id: str = BAKERY) -> PlatformAccount:
    pages = get("facebook_pages")
    start = pages.start_authorization({}, CALLBACK)
    choice = pages.finish_authorization(start.pending, authorize(start.url), CALLBACK)
    [connection] = pages.finish_choice(choice.pending, [page_id])
    account = connections.save(user, "facebook_pages", connection)
    db.session.commit()
    return account


def pat_accounts(pat: User) -> list[PlatformAccount]:
    return list(
        db.session.scalars(
            select(PlatformAccount).filter_by(user_id=pat.id, platform="facebook_pages")
        )
    )


# Connecting through the pages


def test_connecting_lets_the_person_pick_among_the_pages_they_manage(client, pat, fb):
    done = sign_in_through_the_pages(client)
    assert done.status_code == 303
    assert done.headers["Location"].endswith("/connections/facebook_pages/choose")

    # The cookie carries the choice, but never a token Facebook would accept.
    payload = session_payload(client)
    assert "user_token" in payload and "Alice's Bakery" in payload
    assert fb.user_tokens()
    for token in fb.user_tokens():
        assert token not in payload

    page = text_of(client.get("/connections/facebook_pages/choose"))
    assert 'name="remote_id" value="101"' in page and "Alice&#39;s Bakery" in page
    assert "Neighbourhood Choir" not in page and 'value="202"' not in page  # no MANAGE task
    assert "Connect selected Pages" in page

    chosen = client.post("/connections/facebook_pages/choose", data={"remote_id": BAKERY})
    assert chosen.status_code == 303 and chosen.headers["Location"].endswith("/connections")
    assert "Connected 1 Page: Alice&#39;s Bakery." in text_of(client.get("/connections"))
    [account] = pat_accounts(pat)
    assert (account.remote_id, account.handle) == (BAKERY, "Alice's Bakery")
    assert account.status is AccountStatus.CONNECTED and account.expires_at is None
    assert account.access_token == fb.page_token("alice", BAKERY)
    assert fb.tokens[account.access_token].kind == "page"

    # The choice works once.
    again = client.post("/connections/facebook_pages/choose", data={"remote_id": BAKERY})
    assert again.status_code == 400
    assert "This choice has expired or was already used" in text_of(again)
    assert "platform_choosing" not in session_payload(client)


def test_choosing_nothing_shows_the_form_again(client, pat, fb):
    sign_in_through_the_pages(client)
    empty = client.post("/connections/facebook_pages/choose", data={})
    assert empty.status_code == 400
    page = text_of(empty)
    assert "Choose at least one Page to connect." in page and 'value="101"' in page
    assert pat_accounts(pat) == []

    chosen = client.post("/connections/facebook_pages/choose", data={"remote_id": BAKERY})
    assert chosen.status_code == 303
    assert [a.remote_id for a in pat_accounts(pat)] == [BAKERY]


def test_a_page_that_was_not_offered_cannot_be_chosen(client, pat, fb):
    sign_in_through_the_pages(client)
    forged = client.post("/connections/facebook_pages/choose", data={"remote_id": [BAKERY, CHOIR]})
    assert forged.status_code == 400
    assert "Choose among the Facebook Pages you manage." in text_of(forged)
    assert pat_accounts(pat) == []


def test_the_choose_page_without_a_sign_in_is_a_readable_400(client, pat, fb):
    page = client.get("/connections/facebook_pages/choose")
    assert page.status_code == 400
    assert "This choice has expired or was already used" in text_of(page)
    posted = client.post("/connections/facebook_pages/choose", data={"remote_id": BAKERY})
    assert posted.status_code == 400 and pat_accounts(pat) == []


def test_a_stale_choice_has_expired(client, pat, fb, monkeypatch):
    sign_in_through_the_pages(client)
    import app.blueprints.connections.routes as routes

    monkeypatch.setattr(routes, "CHOICE_SECONDS", -1)
    page = client.get("/connections/facebook_pages/choose")
    assert page.status_code == 400 and "expired" in text_of(page)


def test_a_wrong_client_secret_is_a_readable_400(app, client, pat, fb):
    app.config["FACEBOOK_PAGES_CLIENT_SECRET"] = "not-the-secret"
    done = sign_in_through_the_pages(client)
    assert done.status_code == 400
    assert "Facebook refused the sign-in: Error validating client secret." in text_of(done)
    assert pat_accounts(pat) == []


# The sign-in itself


def test_the_dialog_asks_for_the_page_scopes_and_a_code_works_once(fb):
    pages = get("facebook_pages")
    assert pages.is_configured()
    start = pages.start_authorization({}, CALLBACK)
    assert start.url.startswith(f"{fb.url}/v25.0/dialog/oauth?")
    query = parse_qs(urlsplit(start.url).query)
    assert query["scope"] == [
        "pages_show_list,pages_manage_metadata,pages_manage_posts,pages_read_engagement"
    ]
    assert query["state"] == [start.pending["state"]] and query["redirect_uri"] == [CALLBACK]
    back = authorize(start.url)

    choice = pages.finish_authorization(start.pending, back, CALLBACK)
    assert isinstance(choice, ChooseAccounts)
    assert choice.options == [(BAKERY, "Alice's Bakery")]
    # what is kept is the long-lived token, encrypted
    kinds = {t.kind for t in fb.tokens.values()}
    assert {"short", "long"} <= kinds

    with pytest.raises(ConnectFailed, match="authorization code has been used"):
        pages.finish_authorization(start.pending, back, CALLBACK)


def test_a_different_redirect_uri_is_refused(fb):
    pages = get("facebook_pages")
    start = pages.start_authorization({}, CALLBACK)
    back = authorize(start.url)
    with pytest.raises(ConnectFailed, match="redirect_uri is identical"):
        pages.finish_authorization(start.pending, back, CALLBACK + "?x=1")


def test_a_denied_authorization_says_so(fb):
    fb.deny = True
    pages = get("facebook_pages")
    start = pages.start_authorization({}, CALLBACK)
    with pytest.raises(ConnectFailed, match="did not authorize Linkarooie"):
        pages.finish_authorization(start.pending, authorize(start.url), CALLBACK)


def test_someone_who_manages_no_page_is_told_so(fb):
    bob = fb.add_person("bob", "Bob")
    fb.add_page(bob, "303", "Bob's Fan Club", ["ANALYZE"])
    fb.approve_as = "bob"
    pages = get("facebook_pages")
    start = pages.start_authorization({}, CALLBACK)
    with pytest.raises(ConnectFailed) as refused:
        pages.finish_authorization(start.pending, authorize(start.url), CALLBACK)
    assert refused.value.message == NO_PAGES
    assert "don't manage any Facebook Page" in NO_PAGES


def test_every_answer_of_a_paged_list_is_read(fb):
    fb.add_page(fb.people["alice"], "404", "Alice's Second Shop", ["MANAGE"])
    fb.page_size = 1  # three answers, two following paging.next
    pages = get("facebook_pages")
    start = pages.start_authorization({}, CALLBACK)
    choice = pages.finish_authorization(start.pending, authorize(start.url), CALLBACK)
    assert choice.options == [(BAKERY, "Alice's Bakery"), ("404", "Alice's Second Shop")]
    connected = pages.finish_choice(choice.pending, ["404", BAKERY, "404"])
    assert [(c.remote_id, c.handle) for c in connected] == [
        ("404", "Alice's Second Shop"),
        (BAKERY, "Alice's Bakery"),
    ]
    assert all(c.expires_at is None and c.refresh_token is None for c in connected)


def test_an_unconfigured_site_cannot_connect(app):
    before = app.config.get("FACEBOOK_PAGES_CLIENT_ID")
    app.config["FACEBOOK_PAGES_CLIENT_ID"] = None
    try:
        assert not get("facebook_pages").is_configured()
        with pytest.raises(ConnectFailed, match="not configured on this site"):
            get("facebook_pages").start_authorization({}, CALLBACK)
    finally:
        app.config["FACEBOOK_PAGES_CLIENT_ID"] = before


# Pushing


def test_a_sync_sets_picture_and_cover_from_unpublished_photos(app, fb, run_jobs):
    pat = add_user("pat@example.com")
    account = connect(fb, pat)
    avatar, banner = ready_images(pat, run_jobs)
    pages = get("facebook_pages")
    before = {slot: pages.current_image_url(account, slot) for slot in ("avatar", "banner")}
    assert before == {"avatar": f"{fb.url}/cdn/silhouette.jpg", "banner": None}
    release = releases.start(pat)
    db.session.commit()
    release = settle(run_jobs, release.id)

    assert {t.slot: t.status for t in release.tasks} == {
        "avatar": TaskStatus.SUCCEEDED,
        "banner": TaskStatus.SUCCEEDED,
    }
    shown = fb.shown(BAKERY)
    assert shown["avatar"] == variant_bytes(app, avatar, "fb_page_picture")
    assert shown["banner"] == variant_bytes(app, banner, "fb_page_cover")
    assert [u["published"] for u in fb.uploads] == ["false", "false"]
    assert fb.pages[BAKERY].feed_stories == []  # no "updated their cover photo" post
    assert fb.shown(CHOIR) == {"avatar": None, "banner": None}

    # The tasks name what the Page shows, in a form that stays put while it shows it (the
    # CDN's signed query changes on every answer; the engine compares these after a crash).
    page = fb.pages[BAKERY]
    assert task_of(release, "banner").remote_url == f"https://www.facebook.com/{page.cover}"
    account = db.session.get(PlatformAccount, account.id)
    picture = pages.current_image_url(account, "avatar")
    assert picture == task_of(release, "avatar").remote_url == f"{fb.url}/cdn/{page.picture}.jpg"
    assert pages.current_image_url(account, "avatar") == picture
    assert pages.current_image_url(account, "banner") == task_of(release, "banner").remote_url
    assert fb.duplicate_pushes() == 0


def test_an_expired_page_token_marks_the_account_for_reconnecting(app, fb, run_jobs):
    pat = add_user("pat@example.com")
    account = connect(fb, pat)
    ready_images(pat, run_jobs)
    fb.expire_page_tokens(BAKERY)
    release = releases.start(pat)
    db.session.commit()
    release = settle(run_jobs, release.id)

    assert {t.status for t in release.tasks} == {TaskStatus.NEEDS_RECONNECT}
    account = db.session.get(PlatformAccount, account.id)
    assert account.status is AccountStatus.EXPIRED
    assert account.last_error.startswith("Facebook refused our access: Error validating access")
    assert fb.uploads == []


def test_a_throttled_push_waits_until_access_is_regained(app, fb, run_jobs):
    pat = add_user("pat@example.com")
    connect(fb, pat)
    ready_images(pat, run_jobs)
    fb.fail_next(429, reset_in=120, times=2)  # both uploads: 2 minutes to regain access
    release = releases.start(pat)
    db.session.commit()
    started = datetime.now(UTC)
    run_jobs()
    db.session.expire_all()

    for task in release.tasks:
        assert task.status is TaskStatus.RETRYING and task.rate_limited == 1
        assert task.error == "Facebook's rate limit was reached."
        wait = (task.next_attempt_at - started).total_seconds()
        assert 115 < wait < 130  # Facebook's estimate, not our own 30 s back-off
    assert fb.shown(BAKERY) == {"avatar": None, "banner": None}


def test_an_oversize_image_is_refused_before_uploading(fb):
    account = connect(fb, add_user("pat@example.com"))
    with pytest.raises(Permanent, match="up to 1000 KB here; this one is 1000 KB"):
        get("facebook_pages").push(account, "avatar", b"\xff\xd8\xff" + b"0" * 1_000_000, "x")
    assert fb.uploads == []


def test_another_pages_token_is_a_permission_error(fb):
    pages = get("facebook_pages")
    account = connect(fb, add_user("pat@example.com"))
    account.remote_id = CHOIR  # the Bakery's token, used on the Choir
    with pytest.raises(ReconnectNeeded, match=r"\(#200\) The user must be an administrator"):
        pages.push(account, "avatar", b"\xff\xd8\xff", "image/jpeg")
    db.session.rollback()


def test_transient_graph_errors_are_retried(fb):
    pages = get("facebook_pages")
    account = connect(fb, add_user("pat@example.com"))
    fb.fail_next(500)
    with pytest.raises(RetryLater, match="temporary problem") as first:
        pages.push(account, "avatar", b"\xff\xd8\xff", "image/jpeg")
    assert not first.value.rate_limited
    fb.fail_next(502)
    with pytest.raises(RetryLater, match=r"temporary problem \(HTTP 502\)"):
        pages.push(account, "avatar", b"\xff\xd8\xff", "image/jpeg")


def test_a_rejected_photo_is_a_permanent_failure_with_facebooks_reason(fb):
    account = connect(fb, add_user("pat@example.com"))
    with pytest.raises(Permanent, match=r"Facebook refused the image: \(#324\) Missing or inv"):
        get("facebook_pages").push(account, "avatar", b"not an image", "image/jpeg")


def test_the_regain_time_is_read_from_the_business_use_case_header():
    assert regain_at(None) is None and regain_at("not json") is None
    assert regain_at('{"1": [{"estimated_time_to_regain_access": 0}]}') is None
    moment = regain_at(
        '{"1": [{"type": "pages", "estimated_time_to_regain_access": 3}],'
        ' "2": [{"estimated_time_to_regain_access": 10}]}'
    )
    wait = (moment - datetime.now(UTC)).total_seconds()
    assert 590 < wait <= 600  # the longest wait of all business objects
