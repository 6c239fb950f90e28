"""A person with a row in every table that can hold their data, for the export tests: pictures
with variants, a connected account with tokens, a release, a schedule, a webhook with a
delivery, analytics, notifications, an API token, a session, a sign-in identity, mail."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from app.extensions import db
from app.models import (
    AccountSlot,
    AnalyticsEvent,
    DailyCount,
    FollowerCount,
    HandleRedirect,
    NotificationPreference,
    OAuthIdentity,
    PlatformAccount,
    ScheduledRelease,
    SyncPreferences,
    User,
)
from app.services.accounts import api_tokens, audit, sessions
from app.services.notifications import events
from app.services.notifications.mail import queue_mail
from app.services.webhooks import delivery, endpoints
from tests.sync_rows import make_release
from tests.sync_support import ready_images
from tests.web.test_public_page import make_profile


@dataclass
class Person:
    user_id: int
    secrets: list[str] = field(default_factory=list)  # none of these may be in the zip
    image_ids: list[int] = field(default_factory=list)
    rows: dict[str, set[tuple]] = field(default_factory=dict)  # primary keys per table


def rich_person(user: User, run_jobs, webhook_url: str) -> Person:
    person = Person(user.id)
    avatar, banner = ready_images(user, run_jobs)
    user = db.session.get(User, person.user_id)
    person.image_ids = [avatar.id, banner.id]
    make_profile(user, handle="PatQ")
    db.session.add(
        HandleRedirect(
            handle_key="oldpat", user_id=user.id, expires_at=datetime.now(UTC) + timedelta(days=9)
        )
    )

    tokens = {
        "access_token": "plain-access-Zq81LmXv0",
        "refresh_token": "plain-refresh-Yy72KpWw1",
        "secret": "plain-apppassword-Xx63JoVv2",
    }
    account = PlatformAccount(
        user_id=user.id,
        platform="mastodon",
        instance_url="https://masto.example",
        remote_id="109",
        handle="@pat@masto.example",
        **tokens,
    )
    db.session.add(account)
    db.session.flush()
    person.secrets += tokens.values()
    thumb = b"\xff\xd8\xff\xe0drift-thumbnail-bytes" * 20
    live_key = "drift/ab/" + hashlib.sha256(thumb).hexdigest() + ".jpg"
    from flask import current_app

    current_app.extensions["storage"].put(live_key, thumb, "image/jpeg")
    db.session.add(
        AccountSlot(
            account_id=account.id,
            slot="avatar",
            sha256="0" * 64,
            pushed_at=datetime.now(UTC),
            drift_status="changed",
            live_key=live_key,
        )
    )
    db.session.add(FollowerCount(account_id=account.id, day=datetime.now(UTC).date(), count=42))
    db.session.commit()
    release = make_release(user, account, avatar=avatar, banner=banner)
    db.session.add(
        ScheduledRelease(
            user_id=user.id,
            avatar_image_id=avatar.id,
            at=datetime.now(UTC) + timedelta(days=3),
            run_release_id=release.id,
        )
    )
    db.session.add(SyncPreferences(user_id=user.id, auto_sync=True, drift_watch="daily"))
    db.session.add(NotificationPreference(user_id=user.id, type="drift.detected", email=False))
    now = datetime.now(UTC)
    db.session.add(AnalyticsEvent(user_id=user.id, kind="page_view", occurred_at=now, visitor="v1"))
    db.session.add(
        DailyCount(user_id=user.id, day=now.date(), kind="page_view", count=3, uniques=2)
    )

    endpoint, webhook_secret = endpoints.create(user, webhook_url, ["release.completed"])
    person.secrets += [webhook_secret, webhook_secret.removeprefix("whsec_")]
    db.session.commit()
    delivery.send_test(endpoint)
    db.session.commit()
    run_jobs()  # the test delivery and its attempt

    raw_token, token_row = None, None
    user = db.session.get(User, person.user_id)
    token_row, raw_token = api_tokens.create_token(user, "deploy script")
    person.secrets += [raw_token, token_row.token_hash]
    key = sessions.open_session(user, method="password", remember=True, ip="203.0.113.9",
                                user_agent="Firefox")  # fmt: skip
    person.secrets += [key, hashlib.sha256(key.encode()).hexdigest()]
    db.session.add(
        OAuthIdentity(
            user_id=user.id,
            provider="github",
            subject="gh-777",
            linked_at=now,
            link_nonce="nonce-Vu54InUu3",
        )
    )
    person.secrets.append("nonce-Vu54InUu3")
    audit.record("password_changed", user, "203.0.113.9")
    events.emit(user.id, "schedule.ran", schedule_id=1, status="applied")
    queue_mail("email_changed", user, old_email="old@example.com", new_email=user.email)
    db.session.commit()
    person.secrets.append(user.password_hash)
    # What the database holds for the encrypted columns: ciphertext must not leak either.
    for table, column in (
        ("platform_accounts", "access_token"),
        ("platform_accounts", "refresh_token"),
        ("platform_accounts", "secret"),
        ("webhook_endpoints", "secret"),
    ):
        stored = db.session.execute(text(f"SELECT {column} FROM {table}")).scalars().all()
        person.secrets += [value for value in stored if value]
    return person


def open_zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def every_byte(data: bytes) -> bytes:
    """The zip as stored and every entry decompressed: what a secret must not be found in."""
    archive = open_zip(data)
    return data + b"".join(archive.read(name) for name in archive.namelist())


def variants_of_secret(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, base64.b64encode(raw)]
