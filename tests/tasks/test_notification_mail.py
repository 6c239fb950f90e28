"""Notifications by email, through the real SMTP sink: one mail per release (never per step),
a digest for a burst, a one-click unsubscribe that turns off only its own type, and security
notices that nothing turns off."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.models import OutboxMessage
from app.services.accounts import api_tokens
from app.services.notifications import events, outbox, preferences
from app.services.notifications.messages import utcnow
from app.services.sync import releases
from tests.images import add_user
from tests.sync_support import connect_mastodon, ready_images, settle

SITE = "http://localhost"


@pytest.fixture
def site(app):
    app.config["PUBLIC_URL"] = SITE
    yield
    app.config["PUBLIC_URL"] = None


@pytest.fixture
def pat(app, site):
    return add_user("pat@example.com")


@pytest.fixture
def two_accounts(pat, fake_mastodon):
    return connect_mastodon(pat, fake_mastodon, "alice"), connect_mastodon(
        pat, fake_mastodon, "bob"
    )


def _release(pat, run_jobs):
    release = releases.start(pat)
    db.session.commit()
    assert len(release.tasks) == 4  # two accounts, avatar and banner each
    return settle(run_jobs, release.id)


def _release_mails(mail_sink, to="pat@example.com"):
    return [m for m in mail_sink.to(to) if m["Subject"].startswith("Your release finished")]


def test_a_release_of_four_steps_is_one_mail_with_both_parts_and_unsubscribe_headers(
    app, pat, two_accounts, fake_mastodon, run_jobs, mail_sink
):
    ready_images(pat, run_jobs)
    release = _release(pat, run_jobs)
    run_jobs()

    (mail,) = mail_sink.wait("pat@example.com")
    assert mail["Subject"] == "Your release finished"
    assert "all 4 steps went well" in mail_sink.text(mail)
    assert f"/sync/{release.id}" in mail_sink.text(mail)
    assert "all 4 steps went well" in mail_sink.html(mail)
    unsubscribe = mail_sink.link(mail, "/notifications/unsubscribe/", path_only=False)
    assert mail["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe.startswith(SITE + "/")
    # As sent, on the wire: the URL itself, not RFC 2047 encoded words a client cannot read.
    raw = dict(mail.raw_items())["List-Unsubscribe"]
    assert raw.strip() == f"<{unsubscribe}>"


def test_a_release_with_a_failed_step_names_the_platform_and_the_error(
    app, pat, two_accounts, fake_mastodon, run_jobs, mail_sink
):
    ready_images(pat, run_jobs)
    fake_mastodon.fail_next(422, error="Validation failed: Avatar dimensions are too large")
    _release(pat, run_jobs)
    run_jobs()

    (mail,) = _release_mails(mail_sink)
    assert mail["Subject"] == "Your release finished with problems"
    text = mail_sink.text(mail)
    assert "1 of 4 steps failed" in text
    assert "Mastodon (@" in text and "Avatar dimensions are too large" in text
    assert "Avatar dimensions are too large" in mail_sink.html(mail)


def test_one_click_unsubscribe_turns_off_only_that_type_without_signing_in(
    app, client, pat, two_accounts, fake_mastodon, run_jobs, mail_sink
):
    ready_images(pat, run_jobs)
    _release(pat, run_jobs)
    run_jobs()
    link = mail_sink.link(mail_sink.last("pat@example.com"), "/notifications/unsubscribe/")

    confirm = client.get(link)  # nobody is signed in
    assert confirm.status_code == 200 and b"Stop these emails?" in confirm.data
    assert preferences.wants_email(pat.id, "release.completed")  # a GET changes nothing
    done = client.post(link, csrf=False)  # what a mail client's one-click POST looks like
    assert done.status_code == 200 and b"Unsubscribed" in done.data
    assert not preferences.wants_email(pat.id, "release.completed")
    assert preferences.wants_email(pat.id, "release.failed")
    assert preferences.wants_email(pat.id, "drift.detected")

    mail_sink.clear()
    _release(pat, run_jobs)  # the same pictures: every step skipped, i.e. completed
    pat.email_verified_at = utcnow()  # API tokens are for confirmed addresses
    api_tokens.create_token(pat, "laptop")  # a security notice
    db.session.commit()
    run_jobs()
    (mail,) = mail_sink.wait("pat@example.com")
    assert mail["Subject"].startswith("Security notice")
    assert "laptop" in mail_sink.text(mail)
    assert mail["List-Unsubscribe"] is None and "unsubscribe" not in mail_sink.text(mail)
    assert "whatever your notification settings say" in mail_sink.text(mail)


def test_a_forged_unsubscribe_link_is_refused(app, client, pat):
    token = preferences.unsubscribe_token(pat.id, "release.completed")
    response = client.post(f"/notifications/unsubscribe/{token[:-2]}xx", csrf=False)
    assert response.status_code == 400
    assert preferences.wants_email(pat.id, "release.completed")
    with pytest.raises(ValueError):
        preferences.unsubscribe_token(pat.id, "security.password_changed")


def test_a_burst_of_events_is_one_digest_mail(app, pat, run_jobs, mail_sink):
    for account_id in range(1, 11):
        events.emit(
            pat.id, "drift.detected", account_id=account_id, platform="mastodon", slot="avatar"
        )
    db.session.commit()
    run_jobs()
    assert mail_sink.to("pat@example.com") == []  # gathering for NOTIFY_DIGEST_SECONDS
    (message,) = db.session.scalars(db.select(OutboxMessage)).all()

    # A second run of the fan-out (a retried job) adds nothing twice.
    for event in events.latest(pat.id):
        events.fan_out(event.id)
    db.session.commit()
    assert db.session.scalar(db.select(db.func.count()).select_from(OutboxMessage)) == 1

    later = utcnow() + timedelta(seconds=app.config["NOTIFY_DIGEST_SECONDS"] + 1)
    outbox.send(message.id, now=later)
    (mail,) = mail_sink.wait("pat@example.com")
    assert mail["Subject"] == "10 updates: a picture was changed on a platform (drift)"
    text = mail_sink.text(mail)
    assert text.count("The avatar on Mastodon was changed outside Linkarooie.") == 10
    assert mail["List-Unsubscribe"]

    # Once that mail went out, the next event starts a new one rather than joining it.
    events.emit(pat.id, "drift.detected", account_id=11, platform="mastodon", slot="banner")
    db.session.commit()
    run_jobs()
    assert db.session.scalar(db.select(db.func.count()).select_from(OutboxMessage)) == 2


def test_a_type_turned_off_after_queueing_is_not_sent(app, pat, run_jobs, mail_sink):
    events.emit(pat.id, "drift.detected", account_id=1, platform="mastodon", slot="avatar")
    db.session.commit()
    run_jobs()
    (message,) = db.session.scalars(db.select(OutboxMessage)).all()
    preferences.set_email(pat, "drift.detected", False)
    db.session.commit()
    later = utcnow() + timedelta(seconds=app.config["NOTIFY_DIGEST_SECONDS"] + 1)
    assert outbox.send(message.id, now=later).value == "skipped"
    assert mail_sink.to("pat@example.com") == []


def test_security_notices_cannot_be_turned_off(app, pat, run_jobs, mail_sink):
    with pytest.raises(Exception, match="always sent"):
        preferences.set_email(pat, "security.password_changed", False)
    with pytest.raises(Exception, match="always sent"):
        preferences.save_email_choices(pat, {"security.password_changed"})
    preferences.save_email_choices(pat, set())  # everything optional off
    db.session.commit()
    events.emit(pat.id, "security.password_changed")
    events.emit(pat.id, "release.completed", release_id=1, total=1)
    db.session.commit()
    run_jobs()
    (mail,) = mail_sink.wait("pat@example.com")
    assert mail["Subject"] == "Security notice: Your password was changed"


def test_without_public_url_notices_link_to_where_the_site_was_last_opened(
    app, client, run_jobs, mail_sink, monkeypatch
):
    """The embedded default (`make run`) has no PUBLIC_URL: its job-made mails link to the
    loopback address the person opened it at; a Host from elsewhere is never taken."""
    from app.services.notifications import mail

    monkeypatch.setattr(mail, "_local_site", None)
    assert app.config["PUBLIC_URL"] is None
    user = add_user("sam@example.com")
    client.get("/", headers={"Host": "evil.example"})
    assert mail.local_site() is None
    client.get("/", headers={"Host": "127.0.0.1:5000"})
    assert mail.local_site() == "http://127.0.0.1:5000"
    events.emit(user.id, "release.completed", release_id=7, total=2)
    db.session.commit()
    run_jobs()
    (sent,) = mail_sink.wait("sam@example.com")
    assert "http://127.0.0.1:5000/sync/7" in mail_sink.text(sent)
    assert sent["List-Unsubscribe"].startswith("<http://127.0.0.1:5000/notifications/unsubscribe/")
