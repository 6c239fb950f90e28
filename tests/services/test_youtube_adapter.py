"""YouTube: Google's code flow with PKCE and offline access against a loopback Google that checks
the client secret, redirect URI, single-use codes and the S256 verifier; banner pushes that keep
the rest of the channel's branding; token refresh on a clock the test moves; the daily quota."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.models import AccountStatus, PlatformAccount, TaskStatus, User
from app.services.platforms import connections, get
from app.services.platforms import youtube as youtube_module
from app.services.platforms.base import ConnectFailed, Permanent, ReconnectNeeded
from app.services.sync import releases
from tests.images import add_user
from tests.peers.youtube_fake import CLIENT_ID, CLIENT_SECRET, READONLY, FakeYouTube
from tests.sync_support import ready_images, settle, variant_bytes

CALLBACK = "http://localhost/connections/youtube/callback"
SCOPE = "https://www.googleapis.com/auth/youtube"
SETTINGS = (
    "YOUTUBE_CLIENT_ID",
    "YOUTUBE_CLIENT_SECRET",
    "YOUTUBE_AUTH_BASE_URL",
    "YOUTUBE_API_BASE_URL",
    "PUBLIC_URL",
)
ALICE_BRANDING = {
    "title": "Alice Makes Things",
    "description": "Woodworking every Tuesday.",
    "keywords": 'woodworking "hand tools"',
    "unsubscribedTrailer": "dQw4w9WgXcQ",
    "country": "NZ",
}


@pytest.fixture
def youtube_site(app, fake_youtube):
    """The site configured with a Google OAuth client registered at the fake."""
    before = {name: app.config.get(name) for name in SETTINGS}
    app.config.update(
        YOUTUBE_CLIENT_ID=CLIENT_ID,
        YOUTUBE_CLIENT_SECRET=CLIENT_SECRET,
        YOUTUBE_AUTH_BASE_URL=fake_youtube.url,
        YOUTUBE_API_BASE_URL=fake_youtube.url,
    )
    yield fake_youtube
    app.config.update(before)


def text_of(response) -> str:
    return unescape(response.get_data(as_text=True))


def at_google(url: str) -> requests.Response:
    """The person's browser at Google's consent screen (the fake approves by itself)."""
    return requests.get(url, allow_redirects=False, timeout=10)


def authorize(url: str) -> dict[str, str]:
    answer = at_google(url)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(CALLBACK)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def connect(fake: FakeYouTube) -> tuple[User, PlatformAccount]:
    youtube = get("youtube")
    start = youtube.start_authorization({}, CALLBACK)
    connection = youtube.finish_authorization(start.pending, authorize(start.url), CALLBACK)
    pat = add_user("pat@example.com")
    account = connections.save(pat, "youtube", connection)
    db.session.commit()
    return pat, account


def sync(pat: User, run_jobs):
    release = releases.start(pat)
    db.session.commit()
    return settle(run_jobs, release.id)


def web_round_trip(client) -> object:
    """POST /connections/youtube → Google → our callback, as a browser would."""
    started = client.post("/connections/youtube")
    assert started.status_code == 303
    back = urlsplit(at_google(started.headers["Location"]).headers["Location"])
    return client.get(f"{back.path}?{back.query}")


@pytest.fixture
def pat(make_user, login):
    """Pat, signed in on `client`."""
    user = make_user(email="pat@example.com", name="Pat")
    login(user)
    return user


def pacific_midnight_after(moment: datetime) -> datetime:
    pacific = ZoneInfo("America/Los_Angeles")
    day = moment.astimezone(pacific).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=pacific).astimezone(UTC)


# Connecting


def test_connecting_through_the_pages_stores_both_tokens(youtube_site, client, pat):
    started = client.post("/connections/youtube")
    assert started.status_code == 303
    url = urlsplit(started.headers["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{youtube_site.url}/o/oauth2/v2/auth"
    query = parse_qs(url.query)
    assert query["scope"] == [SCOPE]
    assert query["access_type"] == ["offline"] and query["prompt"] == ["consent"]
    assert query["code_challenge_method"] == ["S256"]

    back = urlsplit(at_google(started.headers["Location"]).headers["Location"])
    before = datetime.now(UTC)
    done = client.get(f"{back.path}?{back.query}")
    assert done.status_code == 303
    page = text_of(client.get(done.headers["Location"]))
    assert "Connected YouTube as @alicemakes." in page

    account = db.session.scalar(select(PlatformAccount).filter_by(user_id=pat.id))
    assert account.platform == "youtube" and account.status is AccountStatus.CONNECTED
    assert account.remote_id == youtube_site.channel("alice").id
    assert account.access_token and account.refresh_token
    assert account.scopes == SCOPE
    lifetime = (account.expires_at - before).total_seconds()
    assert 3590 < lifetime < 3610


def test_a_wrong_client_secret_gives_a_readable_page(app, youtube_site, client, pat):
    app.config["YOUTUBE_CLIENT_SECRET"] = "not-the-secret"
    answer = web_round_trip(client)
    assert answer.status_code == 400
    assert (
        "Google refused the sign-in: Google did not accept this site's YouTube app "
        "credentials (invalid_client)." in text_of(answer)
    )
    assert db.session.scalar(select(PlatformAccount)) is None


def test_a_changed_return_address_is_refused(app, youtube_site, client, pat):
    started = client.post("/connections/youtube")
    back = urlsplit(at_google(started.headers["Location"]).headers["Location"])
    app.config["PUBLIC_URL"] = "https://linkarooie.example"  # the operator moved the site
    answer = client.get(f"{back.path}?{back.query}")
    assert answer.status_code == 400
    assert "differs from the one the sign-in started with (redirect_uri_mismatch)" in text_of(
        answer
    )


def test_a_google_account_without_a_channel_is_told_so(youtube_site, client, pat):
    youtube_site.approve_as = "bob"
    answer = web_round_trip(client)
    assert answer.status_code == 400
    assert "This Google account has no YouTube channel." in text_of(answer)


def test_a_code_works_once_and_only_with_its_pkce_verifier(youtube_site):
    youtube = get("youtube")
    start = youtube.start_authorization({}, CALLBACK)
    back = authorize(start.url)
    assert back["state"] == start.pending["state"]
    stolen = {**start.pending, "verifier": "x" * 64}  # someone who intercepted the code
    with pytest.raises(ConnectFailed, match=r"invalid, expired or already used.*\(invalid_grant\)"):
        youtube.finish_authorization(stolen, back, CALLBACK)

    start = youtube.start_authorization({}, CALLBACK)
    back = authorize(start.url)
    assert youtube.finish_authorization(start.pending, back, CALLBACK).handle == "@alicemakes"
    with pytest.raises(ConnectFailed, match=r"\(invalid_grant\)"):
        youtube.finish_authorization(start.pending, back, CALLBACK)


def test_a_consent_without_the_youtube_scope_is_refused(youtube_site):
    youtube_site.granted_scope = READONLY  # the person unticked "manage your YouTube account"
    youtube = get("youtube")
    start = youtube.start_authorization({}, CALLBACK)
    with pytest.raises(ConnectFailed, match="needs permission to manage your YouTube account"):
        youtube.finish_authorization(start.pending, authorize(start.url), CALLBACK)


def test_a_denied_authorization_says_so(youtube_site):
    youtube_site.deny = True
    youtube = get("youtube")
    start = youtube.start_authorization({}, CALLBACK)
    with pytest.raises(ConnectFailed, match="Google did not authorize Linkarooie."):
        youtube.finish_authorization(start.pending, authorize(start.url), CALLBACK)


def test_unconfigured_youtube_is_listed_but_cannot_be_connected(app, client, pat):
    before = app.config.get("YOUTUBE_CLIENT_ID")
    app.config["YOUTUBE_CLIENT_ID"] = None
    try:
        page = text_of(client.get("/connections"))
        card = page.split('id="platform-youtube"')[1].split("</article>")[0]
        assert "Not configured on this site" in card and "Connect YouTube" not in card
        refused = client.post("/connections/youtube")
        assert refused.status_code == 400
        assert "YouTube is not configured on this site." in text_of(refused)
    finally:
        app.config["YOUTUBE_CLIENT_ID"] = before


def test_the_card_says_it_is_the_banner_only(youtube_site, client, pat):
    card = text_of(client.get("/connections")).split('id="platform-youtube"')[1]
    card = card.split("</article>")[0]
    assert "Connect YouTube" in card
    assert "channel picture" in card and "manual step" in card and "offline access" in card


# Pushing the banner


def test_a_sync_sets_the_banner_and_keeps_the_rest_of_the_branding(app, youtube_site, run_jobs):
    pat, _ = connect(youtube_site)
    units_before = youtube_site.units_used()
    _, banner = ready_images(pat, run_jobs)
    release = sync(pat, run_jobs)

    assert [(t.slot, t.status) for t in release.tasks] == [("banner", TaskStatus.SUCCEEDED)]
    assert youtube_site.shown_banner() == variant_bytes(app, banner, "youtube_banner")
    branding = youtube_site.channel("alice").branding
    assert branding["channel"] == ALICE_BRANDING  # channels.update replaced the whole part
    assert release.tasks[0].remote_url == branding["image"]["bannerExternalUrl"]
    # the engine's look before pushing (1), insert (50), read (1), update (50)
    assert youtube_site.units_used() - units_before == 102


def test_the_fake_wipes_what_an_update_leaves_out(youtube_site):
    """What the read-modify-write guards against: an update with only the image."""
    _, account = connect(youtube_site)
    answer = requests.put(
        f"{youtube_site.url}/youtube/v3/channels?part=brandingSettings",
        json={"id": account.remote_id, "brandingSettings": {"image": {}}},
        headers={"Authorization": f"Bearer {account.access_token}"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert youtube_site.channel("alice").branding == {"image": {}}


def test_an_expired_access_token_is_refreshed_after_the_401(app, youtube_site, run_jobs):
    pat, account = connect(youtube_site)
    ready_images(pat, run_jobs)
    old_token = account.access_token
    youtube_site.advance(3700)  # Google's clock says the token is dead; ours does not know yet
    release = sync(pat, run_jobs)

    assert [t.status for t in release.tasks] == [TaskStatus.SUCCEEDED]
    assert youtube_site.shown_banner() is not None
    assert youtube_site.unauthorized == 1 and youtube_site.refreshes == 1
    account = db.session.get(PlatformAccount, account.id)
    assert account.access_token != old_token  # the renewed token was kept for next time


def test_a_token_about_to_expire_is_refreshed_before_the_call(app, youtube_site, run_jobs):
    pat, account = connect(youtube_site)
    ready_images(pat, run_jobs)
    account.expires_at = datetime.now(UTC) + timedelta(seconds=30)
    db.session.commit()
    youtube_site.advance(3570)
    release = sync(pat, run_jobs)

    assert [t.status for t in release.tasks] == [TaskStatus.SUCCEEDED]
    assert youtube_site.unauthorized == 0 and youtube_site.refreshes == 1
    account = db.session.get(PlatformAccount, account.id)
    assert account.expires_at > datetime.now(UTC) + timedelta(minutes=59)


def test_a_revoked_refresh_token_needs_reconnecting(app, youtube_site, run_jobs):
    pat, account = connect(youtube_site)
    ready_images(pat, run_jobs)
    youtube_site.revoke_refresh_tokens()
    youtube_site.advance(3700)
    release = sync(pat, run_jobs)

    assert [t.status for t in release.tasks] == [TaskStatus.NEEDS_RECONNECT]
    account = db.session.get(PlatformAccount, account.id)
    assert account.status is AccountStatus.EXPIRED
    assert account.last_error == "Google says the YouTube sign-in is expired or revoked; reconnect."
    assert youtube_site.shown_banner() is None


def test_a_401_after_a_fresh_token_needs_reconnecting(youtube_site):
    _, account = connect(youtube_site)
    youtube_site.fail_next(401, times=2, path="GET /youtube/v3/channels$")
    with pytest.raises(ReconnectNeeded, match="YouTube refused our access: Invalid Credentials"):
        get("youtube").current_image_url(account, "banner")
    assert youtube_site.refreshes == 1  # one new token, tried once


def test_an_exhausted_quota_waits_for_midnight_pacific(app, youtube_site, run_jobs):
    pat, _ = connect(youtube_site)
    ready_images(pat, run_jobs)
    youtube_site.daily_quota = youtube_site.units_used() + 1  # the look before pushing fits
    release = releases.start(pat)
    db.session.commit()
    started = datetime.now(UTC)
    run_jobs()
    db.session.expire_all()

    [task] = release.tasks
    assert task.status is TaskStatus.RETRYING and task.rate_limited == 1
    assert task.error.startswith("YouTube's daily API quota for this site is used up")
    reset = pacific_midnight_after(started)
    assert reset <= task.next_attempt_at < reset + timedelta(seconds=2)
    assert youtube_site.shown_banner() is None


def test_a_rate_limit_waits_as_long_as_google_says(app, youtube_site, run_jobs):
    pat, _ = connect(youtube_site)
    ready_images(pat, run_jobs)
    youtube_site.fail_next(429, reset_in=2)  # 429 rateLimitExceeded with Retry-After: 2
    release = releases.start(pat)
    db.session.commit()
    started = datetime.now(UTC)
    run_jobs()
    db.session.expire_all()

    [task] = release.tasks
    assert task.status is TaskStatus.RETRYING and task.rate_limited == 1
    assert task.error == "YouTube's rate limit was reached."
    assert 1.5 < (task.next_attempt_at - started).total_seconds() < 4
    release = settle(run_jobs, release.id)
    assert [t.status for t in release.tasks] == [TaskStatus.SUCCEEDED]


def test_a_5xx_is_retried_and_then_lands(app, youtube_site, run_jobs):
    pat, _ = connect(youtube_site)
    ready_images(pat, run_jobs)
    youtube_site.fail_next(503)
    app.config["SYNC_RETRY_BASE"], before = 0, app.config["SYNC_RETRY_BASE"]
    try:
        release = sync(pat, run_jobs)
    finally:
        app.config["SYNC_RETRY_BASE"] = before
    assert [(t.status, t.attempts) for t in release.tasks] == [(TaskStatus.SUCCEEDED, 2)]
    assert [push["status"] for push in youtube_site.pushes] == [503, 200]


def test_an_oversize_banner_fails_without_calling_youtube(app, youtube_site, run_jobs, monkeypatch):
    pat, account = connect(youtube_site)
    calls = len(youtube_site.calls)
    with pytest.raises(Permanent, match="up to 6,000,000 bytes; this one is 6,000,001 bytes"):
        get("youtube").push(account, "banner", b"\xff" * 6_000_001, "image/jpeg")
    assert len(youtube_site.calls) == calls

    monkeypatch.setattr(youtube_module, "MAX_BANNER_BYTES", 10_000)  # below our banner's size
    ready_images(pat, run_jobs)
    [task] = sync(pat, run_jobs).tasks
    assert task.status is TaskStatus.FAILED
    assert "YouTube accepts banners up to 10,000 bytes" in task.error
    assert youtube_site.pushes == []


def test_youtube_refuses_uploads_over_6_mb(youtube_site, monkeypatch):
    _, account = connect(youtube_site)
    monkeypatch.setattr(youtube_module, "MAX_BANNER_BYTES", 10**9)  # let it through to YouTube
    with pytest.raises(Permanent, match="refused the banner: Media larger than 6291456 bytes"):
        get("youtube").push(account, "banner", b"\xff" * (6 * 1024 * 1024 + 1), "image/jpeg")


# Tokens


def test_refresh_renews_the_access_token_and_keeps_the_refresh_token(youtube_site):
    _, account = connect(youtube_site)
    old_token, old_expiry, refresh_token = (
        account.access_token,
        account.expires_at,
        account.refresh_token,
    )
    youtube_site.advance(3000)
    get("youtube").refresh(account)
    assert account.access_token != old_token
    assert account.expires_at > old_expiry
    assert account.refresh_token == refresh_token  # Google left it out of the answer
    youtube_site.advance(1000)  # the old token is dead on Google's clock; the new one is not
    assert get("youtube").current_image_url(account, "banner") is None
    assert youtube_site.unauthorized == 0


def test_disconnecting_revokes_the_grant_at_google(app, youtube_site, run_jobs):
    _, account = connect(youtube_site)
    connections.disconnect(account)
    db.session.commit()
    run_jobs()
    assert [grant.revoked for grant in youtube_site.grants] == [True]
    account = db.session.get(PlatformAccount, account.id)
    assert account.refresh_token is None and account.access_token is None
