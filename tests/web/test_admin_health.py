"""The status page's platform, pipeline and users sections: the numbers match the rows the test
wrote, windows cut where they should, and a platform whose failures jump stands out."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Image, ImageStatus, PlatformAccount, TaskStatus, User, UserSession
from app.services.images import library
from app.services.ops import platforms
from tests.images import avatar_jpeg
from tests.sync_rows import make_account, make_release


@pytest.fixture
def admin(make_user):
    return make_user(email="root@example.com", admin=True)


def task(
    user: User,
    account: PlatformAccount,
    status: TaskStatus,
    ago: timedelta,
    *,
    push_ms: int | None = None,
    rate_limited: int = 0,
    error: str | None = None,
) -> None:
    """One sync task that ended (or, retrying, was last touched) `ago`."""
    release = make_release(user, account, statuses={"avatar": status}, error=error)
    row = release.tasks[0]
    moment = datetime.now(UTC) - ago
    row.finished_at = None if status is TaskStatus.RETRYING else moment
    row.updated_at = moment
    row.push_ms = push_ms
    row.rate_limited = rate_limited
    db.session.commit()


def section(client, name: str) -> str:
    response = client.get(f"/admin/sections/{name}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def platform_rows(html: str, platform: str) -> tuple[str, dict[str, dict[str, str]]]:
    """The platform's row group and its cells: {"hour": {"failed": "1", ...}, "day": {...}}."""
    group = re.search(rf'<tbody data-platform="{platform}".*?</tbody>', html, re.S).group(0)
    cells = {}
    for window in ("hour", "day"):
        row = re.search(rf'<tr data-window="{window}">.*?</tr>', group, re.S).group(0)
        cells[window] = {
            name: re.sub(r"<[^>]+>", "", value).strip()
            for name, value in re.findall(r'data-count="(\w+)">(.*?)</td>', row, re.S)
        }
    return group, cells


def test_platform_counts_match_the_sync_tasks_of_the_last_hour_and_day(
    client, login, admin, make_user
):
    pat = make_user(email="pat@example.com")
    masto = make_account(pat, handle="@pat@masto.example")
    minutes = timedelta(minutes=1)
    # The last hour.
    task(pat, masto, TaskStatus.SUCCEEDED, 5 * minutes, push_ms=100)
    task(pat, masto, TaskStatus.SUCCEEDED, 20 * minutes, push_ms=200)
    task(pat, masto, TaskStatus.SUCCEEDED, 50 * minutes, push_ms=900)
    task(pat, masto, TaskStatus.FAILED, 10 * minutes, push_ms=50, error="Server error 500")
    task(pat, masto, TaskStatus.NEEDS_RECONNECT, 15 * minutes, error="Token revoked")
    task(pat, masto, TaskStatus.RETRYING, 10 * minutes, rate_limited=2, error="Rate limit")
    # Two hours ago: the day, not the hour.
    task(pat, masto, TaskStatus.SUCCEEDED, 120 * minutes, push_ms=300, rate_limited=1)
    task(pat, masto, TaskStatus.SUCCEEDED, 130 * minutes, push_ms=400)
    task(pat, masto, TaskStatus.FAILED, 125 * minutes, push_ms=20000, error="Timed out")
    # Older than a day: nowhere.
    for _ in range(3):
        task(pat, masto, TaskStatus.SUCCEEDED, timedelta(days=2), push_ms=9000, rate_limited=4)
        task(pat, masto, TaskStatus.FAILED, timedelta(hours=25), push_ms=9000, error="Old")
    # Skipped tasks are not pushes.
    task(pat, masto, TaskStatus.SKIPPED, 5 * minutes)
    login(admin)

    html = section(client, "platforms")
    group, cells = platform_rows(html, "mastodon")
    assert cells["hour"] == {
        "succeeded": "3",
        "failed": "1",
        "rate_limited": "2",
        "reconnect": "1",
        "median_ms": "150 ms",  # of 50, 100, 200, 900
    }
    assert cells["day"] == {
        "succeeded": "5",
        "failed": "2",
        "rate_limited": "3",
        "reconnect": "1",
        "median_ms": "300 ms",  # of 50, 100, 200, 300, 400, 900, 20000
    }
    assert 'data-highlighted="no"' in group and "Failures jumped" not in html
    # A platform nobody pushed to shows zeros and says so.
    group, cells = platform_rows(html, "bluesky")
    assert cells["day"]["succeeded"] == "0" and "No pushes today" in group
    assert cells["day"]["median_ms"] == "—"
    # Manual platforms make no pushes: not listed.
    assert 'data-platform="instagram"' not in html


def test_recent_errors_list_the_newest_five_with_platform_account_and_message(
    client, login, admin, make_user
):
    pat = make_user(email="pat@example.com")
    masto = make_account(pat, handle="@pat@masto.example")
    sky = make_account(
        pat, platform="bluesky", handle="pat.bsky.social", instance_url="https://bsky.example"
    )
    for n in range(6):
        account = sky if n == 0 else masto
        task(pat, account, TaskStatus.FAILED, timedelta(minutes=n + 1), error=f"Error number {n}")
    task(pat, masto, TaskStatus.SUCCEEDED, timedelta(seconds=5))
    login(admin)

    html = section(client, "platforms")
    errors = re.search(r'<table class="admin-table recent-errors">.*?</table>', html, re.S)
    shown = re.findall(r"Error number (\d)", errors.group(0))
    assert shown == ["0", "1", "2", "3", "4"]  # newest first, the sixth left out
    assert "pat.bsky.social" in errors.group(0) and "Bluesky" in errors.group(0)
    assert "@pat@masto.example" in errors.group(0)
    assert "1 min ago" in errors.group(0)


def test_a_platform_whose_failures_jump_in_the_last_hour_is_highlighted_in_words(
    client, login, admin, make_user
):
    pat = make_user(email="pat@example.com")
    sky = make_account(
        pat, platform="bluesky", handle="pat.bsky.social", instance_url="https://bsky.example"
    )
    masto = make_account(pat, handle="@pat@masto.example")
    # Bluesky: 1 in 21 failed earlier today (5 %), then 3 in 7 (43 %) in the last hour.
    for n in range(20):
        task(pat, sky, TaskStatus.SUCCEEDED, timedelta(hours=2 + n % 10))
    task(pat, sky, TaskStatus.FAILED, timedelta(hours=3), error="Upstream 502")
    for n in range(4):
        task(pat, sky, TaskStatus.SUCCEEDED, timedelta(minutes=5 + n))
    for n in range(3):
        task(pat, sky, TaskStatus.FAILED, timedelta(minutes=10 + n), error="Upstream 502")
    # Mastodon: every push of the hour failed, but only two: not enough to call it a jump.
    for n in range(2):
        task(pat, masto, TaskStatus.FAILED, timedelta(minutes=10 + n), error="Server error")
    login(admin)

    html = section(client, "platforms")
    group, _ = platform_rows(html, "bluesky")
    assert 'data-highlighted="yes"' in group and 'class="platform-jump"' in group
    assert "⚠ Failures jumped" in group
    assert "Failures up to 43% in the last hour, from 5% before." in group
    group, _ = platform_rows(html, "mastodon")
    assert 'data-highlighted="no"' in group and "Failures jumped" not in group

    # A third failure on Mastodon with nothing to compare with: most of its hour failed.
    task(pat, masto, TaskStatus.FAILED, timedelta(minutes=1), error="Server error")
    group, _ = platform_rows(section(client, "platforms"), "mastodon")
    assert "100% of the last hour&#39;s pushes failed" in group


@pytest.mark.parametrize(
    ("hour", "before", "expected"),
    [
        ((7, 3), (20, 1), True),  # 30 % against 5 %: doubled
        ((7, 3), (12, 3), False),  # 30 % against 25 %: not doubled, not a majority
        ((1, 3), (0, 0), True),  # 75 %, no baseline
        ((997, 3), (0, 0), False),  # 3 failures in 1000: under the 10 % floor
        ((0, 2), (0, 0), False),  # two failures are not yet a pattern
    ],
)
def test_the_jump_rule(hour, before, expected):
    (ok, failed), (ok_before, failed_before) = hour, before
    hour_window = platforms.Window(succeeded=ok, failed=failed)
    day_window = platforms.Window(succeeded=ok + ok_before, failed=failed + failed_before)
    assert (platforms._jump(hour_window, day_window) is not None) is expected


def _image(user: User, seed: int) -> Image:
    image, _ = library.create_upload(user.id, "avatar", avatar_jpeg(seed=seed), f"{seed}.jpg")
    db.session.commit()
    return image


def test_pipeline_numbers_count_processed_and_failed_images_per_window(
    client, login, admin, make_user, run_jobs
):
    pat = make_user(email="pat@example.com")
    images = [_image(pat, seed) for seed in range(1, 7)]
    ids = [image.id for image in images]
    run_jobs()
    rows = [db.session.get(Image, image_id) for image_id in ids]
    plan = [  # (status, processed or failed this long ago, processing_ms)
        (ImageStatus.READY, timedelta(minutes=1), 100),
        (ImageStatus.READY, timedelta(minutes=30), 300),
        (ImageStatus.READY, timedelta(hours=2), 1000),
        (ImageStatus.READY, timedelta(days=3), 5000),
        (ImageStatus.FAILED, timedelta(minutes=2), None),
        (ImageStatus.FAILED, timedelta(days=3), None),
    ]
    for row, (status, ago, ms) in zip(rows, plan, strict=True):
        moment = datetime.now(UTC) - ago
        row.status = status
        row.processed_at = moment if status is ImageStatus.READY else None
        row.processing_ms = ms
        row.error = "Could not read this image." if status is ImageStatus.FAILED else None
        row.updated_at = moment
    _image(pat, 99)  # uploaded, its job not run yet
    login(admin)

    html = section(client, "pipeline")
    hour = re.search(r'<tr data-window="hour">.*?</tr>', html, re.S).group(0)
    day = re.search(r'<tr data-window="day">.*?</tr>', html, re.S).group(0)

    def cell(row: str, name: str) -> str:
        value = re.search(rf'data-count="{name}">(.*?)</td>', row, re.S).group(1)
        return re.sub(r"<[^>]+>", "", value).strip()

    assert [cell(hour, n) for n in ("processed", "failed", "median_ms")] == ["2", "1", "200 ms"]
    assert [cell(day, n) for n in ("processed", "failed", "median_ms")] == ["3", "1", "300 ms"]
    assert "1 image waiting to be processed." in html


def test_user_counts_total_verified_active_and_admins(client, login, admin, make_user):
    make_user(email="new@example.com", verified=False)
    seen = make_user(email="seen@example.com")
    make_user(email="gone@example.com")
    db.session.add_all(
        [
            UserSession(
                user_id=seen.id,
                key_hash="a" * 64,
                last_seen_at=datetime.now(UTC) - timedelta(days=2),
            ),
            UserSession(
                user_id=db.session.scalar(select(User.id).where(User.email == "gone@example.com")),
                key_hash="b" * 64,
                last_seen_at=datetime.now(UTC) - timedelta(days=9),
            ),
        ]
    )
    db.session.commit()
    login(admin)  # the admin's own sign-in makes them active too

    html = section(client, "users_summary")
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', html))
    assert counts == {"total": "4", "verified": "3", "active": "2", "admins": "1"}
    assert 'href="/admin/users"' in html
