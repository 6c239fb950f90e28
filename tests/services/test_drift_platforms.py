"""The drift watch's read on the other API platforms' loopback fakes (X, YouTube, Gravatar):
after a sync, reading each slot back finds our picture, so the watch reports no change. The
full flows (changed, put back, kept) are in tests/web/test_drift_watch.py (Mastodon) and
tests/tasks/test_drift_bluesky.py (a real PDS)."""

from __future__ import annotations

from app.extensions import db
from app.services.sync import drift, releases
from tests.images import add_user
from tests.services.test_gravatar_adapter import connect as connect_gravatar
from tests.services.test_gravatar_adapter import gravatar_site  # noqa: F401  (fixture)
from tests.services.test_x_adapter import connect_x, x_app  # noqa: F401  (fixture)
from tests.services.test_youtube_adapter import connect as connect_youtube
from tests.services.test_youtube_adapter import youtube_site  # noqa: F401  (fixture)
from tests.sync_support import ready_images, settle


def synced_then_checked(pat, account, run_jobs) -> dict[str, str]:
    ready_images(pat, run_jobs)
    release = releases.start(pat)
    db.session.commit()
    assert settle(run_jobs, release.id).status == "succeeded"
    found = {d.slot: (d.status, d.error) for d in drift.check(db.session.merge(account))}
    db.session.commit()
    return found


def test_x_shows_our_avatar_and_banner(app, x_app, fake_x, run_jobs):  # noqa: F811
    pat = add_user("pat@example.com")
    account = connect_x(pat, fake_x)
    found = synced_then_checked(pat, account, run_jobs)
    assert found == {"avatar": ("unchanged", None), "banner": ("unchanged", None)}


def test_youtube_shows_our_banner(app, youtube_site, run_jobs):  # noqa: F811
    pat, account = connect_youtube(youtube_site)
    assert synced_then_checked(pat, account, run_jobs) == {"banner": ("unchanged", None)}


def test_gravatar_shows_our_avatar(app, gravatar_site, run_jobs):  # noqa: F811
    pat, account = connect_gravatar(gravatar_site)
    assert synced_then_checked(pat, account, run_jobs) == {"avatar": ("unchanged", None)}
