"""Connecting Mastodon: app registration once per instance, the code flow with PKCE and state
against a loopback instance that checks the client secret and verifier, and its limits."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app.extensions import db
from app.models import PlatformApp, TaskStatus
from app.services.platforms import connections, get
from app.services.platforms.base import ConnectFailed
from app.services.sync import releases
from tests.images import add_user
from tests.sync_support import ready_images, settle

CALLBACK = "http://localhost/connections/mastodon/callback"


def authorize(url: str) -> dict[str, str]:
    """What the person's browser does at the instance: approve, and come back with a code."""
    answer = requests.get(url, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(CALLBACK)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_connecting_registers_once_and_runs_the_code_flow_with_pkce(app, fake_mastodon):
    mastodon = get("mastodon")
    start = mastodon.start_authorization({"instance_url": fake_mastodon.url}, CALLBACK)
    query = parse_qs(urlsplit(start.url).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"] == [start.pending["state"]]
    back = authorize(start.url)
    assert back["state"] == start.pending["state"]

    connection = mastodon.finish_authorization(start.pending, back, CALLBACK)
    host = urlsplit(fake_mastodon.url).netloc
    assert connection.handle == f"@alice@{host}"
    assert connection.instance_url == fake_mastodon.url
    assert connection.remote_id == fake_mastodon.accounts["alice"].id

    again = mastodon.start_authorization({"instance_url": fake_mastodon.url + "/"}, CALLBACK)
    assert again.pending["app_id"] == start.pending["app_id"]
    assert len(fake_mastodon.apps) == 1
    assert db.session.query(PlatformApp).count() == 1


def test_a_wrong_pkce_verifier_is_refused_by_the_instance(app, fake_mastodon):
    mastodon = get("mastodon")
    start = mastodon.start_authorization({"instance_url": fake_mastodon.url}, CALLBACK)
    back = authorize(start.url)
    with pytest.raises(ConnectFailed, match="refused the sign-in"):
        mastodon.finish_authorization({**start.pending, "verifier": "x" * 64}, back, CALLBACK)


def test_a_denied_authorization_says_so(app, fake_mastodon):
    fake_mastodon.deny = True
    mastodon = get("mastodon")
    start = mastodon.start_authorization({"instance_url": fake_mastodon.url}, CALLBACK)
    back = authorize(start.url)
    with pytest.raises(ConnectFailed, match="did not authorize Linkarooie"):
        mastodon.finish_authorization(start.pending, back, CALLBACK)


@pytest.mark.parametrize(
    ("address", "reason"),
    [("", "Enter the address"), ("http://127.0.0.1:9", "could not be reached")],
)
def test_unusable_instance_addresses_are_refused_with_a_reason(app, address, reason):
    with pytest.raises(Exception, match=reason):
        get("mastodon").start_authorization({"instance_url": address}, CALLBACK)


def test_the_instances_published_upload_limit_is_respected(app, fake_mastodon, run_jobs):
    fake_mastodon.image_size_limit = 20_000  # smaller than our files
    mastodon = get("mastodon")
    start = mastodon.start_authorization({"instance_url": fake_mastodon.url}, CALLBACK)
    connection = mastodon.finish_authorization(start.pending, authorize(start.url), CALLBACK)
    pat = add_user("pat@example.com")
    connections.save(pat, "mastodon", connection)
    db.session.commit()
    ready_images(pat, run_jobs)

    release = releases.start(pat)
    db.session.commit()
    release = settle(run_jobs, release.id)

    assert {t.status for t in release.tasks} == {TaskStatus.FAILED}
    assert "accepts images up to 20 kB" in release.tasks[0].error
    assert fake_mastodon.pushes == []
