"""The connections page and the connect flows: Mastodon's OAuth round trip against the loopback
fake (the browser's hop to the instance is made with requests), Bluesky's app password, errors
a person can read, reconnecting and disconnecting."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.models import AccountStatus, PlatformAccount
from app.services.platforms import REGISTRY, all_adapters
from tests.peers.bluesky_fake import FakeBluesky
from tests.sync_rows import make_account


def text_of(response) -> str:
    return response.get_data(as_text=True)


def start_mastodon(client, instance_url: str):
    return client.post("/connections/mastodon", data={"instance_url": instance_url})


def approve(authorize_url: str) -> str:
    """The person's browser at the instance: it approves and sends them back (our callback)."""
    answer = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"


def connect_mastodon(client, fake) -> object:
    started = start_mastodon(client, fake.url)
    assert started.status_code in (302, 303)
    return client.get(approve(started.headers["Location"]))


@pytest.fixture
def fake_bluesky() -> Iterator[FakeBluesky]:
    server = FakeBluesky()
    server.add_account("alice.test", "abcd-efgh-ijkl-mnop")
    server.start()
    yield server
    server.stop()


def test_every_platform_is_listed_with_a_way_to_connect(client, pat):
    page = text_of(client.get("/connections"))
    for adapter in REGISTRY.values():
        assert f'id="platform-{adapter.key}"' in page and adapter.label in page
    assert page.count("Not connected") == len(all_adapters())
    assert 'name="instance_url"' in page
    assert 'name="handle"' in page and 'name="app_password"' in page
    assert 'name="service_url"' in page


def test_connecting_mastodon_goes_to_the_instance_and_back(client, pat, fake_mastodon):
    started = start_mastodon(client, fake_mastodon.url)
    assert started.status_code == 303
    authorize = urlsplit(started.headers["Location"])
    assert f"{authorize.scheme}://{authorize.netloc}" == fake_mastodon.url
    assert authorize.path == "/oauth/authorize"
    query = parse_qs(authorize.query)
    assert query["redirect_uri"] == ["http://localhost/connections/mastodon/callback"]

    finished = client.get(approve(started.headers["Location"]))
    assert finished.status_code == 303 and finished.headers["Location"] == "/connections"
    page = text_of(client.get("/connections"))
    handle = f"@alice@{urlsplit(fake_mastodon.url).netloc}"
    assert f"Connected Mastodon as {handle}." in page
    assert handle in page and "Connected" in page and ">Disconnect<" in page
    account = db.session.scalar(select(PlatformAccount))
    assert account.user_id == pat.id and account.status is AccountStatus.CONNECTED
    assert account.access_token in fake_mastodon.tokens


def test_the_callback_url_uses_public_url_when_set(app, client, pat, fake_mastodon):
    app.config["PUBLIC_URL"] = "https://linkarooie.example"
    try:
        started = start_mastodon(client, fake_mastodon.url)
    finally:
        app.config["PUBLIC_URL"] = None
    query = parse_qs(urlsplit(started.headers["Location"]).query)
    assert query["redirect_uri"] == ["https://linkarooie.example/connections/mastodon/callback"]


def test_a_callback_works_once(client, pat, fake_mastodon):
    started = start_mastodon(client, fake_mastodon.url)
    callback = approve(started.headers["Location"])
    assert client.get(callback).status_code == 303
    again = client.get(callback)
    assert again.status_code == 400
    assert "This connection attempt has expired or was already used." in text_of(again)


def test_an_unknown_or_missing_state_is_a_readable_400(client, pat):
    callback = "/connections/mastodon/callback"
    for url in (f"{callback}?code=x&state=nope", callback):
        response = client.get(url)
        assert response.status_code == 400
        assert "Please connect Mastodon again." in text_of(response)


def test_only_a_few_round_trips_wait_in_the_session(client, pat, fake_mastodon):
    for _ in range(8):
        start_mastodon(client, fake_mastodon.url)
    with client.session_transaction() as session:
        assert len(session["platform_pending"]) == 5


def test_refusing_at_the_instance_is_explained(client, pat, fake_mastodon):
    fake_mastodon.deny = True
    started = start_mastodon(client, fake_mastodon.url)
    response = client.get(approve(started.headers["Location"]))
    assert response.status_code == 400
    assert "did not authorize Linkarooie" in text_of(response)
    assert db.session.scalar(select(PlatformAccount)) is None


@pytest.mark.parametrize(
    ("instance_url", "reason"),
    [
        ("", "Enter the address of your server"),
        ("ftp://example.org", "Only http(s) addresses can be used."),
        ("http://127.0.0.1:9", "could not be reached"),
    ],
)
def test_a_bad_instance_is_a_4xx_with_the_reason(client, pat, instance_url, reason):
    response = start_mastodon(client, instance_url)
    assert 400 <= response.status_code < 500
    assert reason in text_of(response)
    assert 'id="platform-mastodon"' in text_of(response)  # the page, to try again


def test_connecting_bluesky_with_an_app_password(client, pat, fake_bluesky):
    response = client.post(
        "/connections/bluesky",
        data={"handle": "alice.test", "app_password": "abcd-efgh-ijkl-mnop",
              "service_url": fake_bluesky.url},
    )  # fmt: skip
    assert response.status_code == 303 and response.headers["Location"] == "/connections"
    page = text_of(client.get("/connections"))
    assert "Connected Bluesky as @alice.test." in page
    assert "abcd-efgh-ijkl-mnop" not in page


def test_a_wrong_app_password_is_explained_and_never_shown_again(client, pat, fake_bluesky):
    response = client.post(
        "/connections/bluesky",
        data={"handle": "alice.test", "app_password": "wrong-wrong-wrong-1234",
              "service_url": fake_bluesky.url},
    )  # fmt: skip
    page = text_of(response)
    assert 400 <= response.status_code < 500
    assert "That did not work." in page
    assert "wrong-wrong-wrong-1234" not in page
    assert 'value="alice.test"' in page  # the handle is kept for the next try


def test_broken_accounts_offer_reconnect_and_show_why(client, pat):
    make_account(pat, status=AccountStatus.EXPIRED, last_error="Mastodon refused our access.")
    make_account(
        pat,
        platform="bluesky",
        handle="@alice.bsky.social",
        status=AccountStatus.ERROR,
        last_error="The PDS is gone.",
    )
    page = text_of(client.get("/connections"))
    assert "Needs reconnecting" in page and "Mastodon refused our access." in page
    assert "Error" in page and "The PDS is gone." in page
    assert page.count(">Reconnect<") >= 2
    assert 'name="instance_url" value="https://masto.example"' in page


def test_disconnecting_revokes_in_a_job(client, pat, fake_mastodon, run_jobs):
    connect_mastodon(client, fake_mastodon)
    account = db.session.scalar(select(PlatformAccount))
    token = account.access_token
    response = client.post(f"/connections/{account.id}/disconnect")
    assert response.status_code == 303
    page = text_of(client.get("/connections"))
    assert f"Disconnected {account.handle}." in page
    assert 'id="account-' not in page
    run_jobs()
    account = db.session.get(PlatformAccount, account.id)
    assert account.status is AccountStatus.REVOKED and account.access_token is None
    assert fake_mastodon.tokens[token].revoked


def test_connecting_needs_a_confirmed_email(client, make_user, login):
    login(make_user(email="new@example.com", verified=False))
    page = text_of(client.get("/connections"))
    assert "Confirm your email address before connecting" in page
    response = client.post("/connections/mastodon", data={"instance_url": "example.org"})
    assert response.status_code == 403


def test_an_unknown_platform_is_404(client, pat):
    assert client.post("/connections/myspace", data={}).status_code == 404
    assert client.get("/connections/myspace/callback?state=x").status_code == 404
