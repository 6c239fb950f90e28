"""Account services on the real database: creation, authentication, audit, the mail outbox."""

from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, OutboxMessage, Role, User
from app.services.accounts import audit, users
from app.services.accounts.passwords import WeakPassword
from app.services.exceptions import Conflict


def test_create_user_normalises_and_refuses_duplicates(app):
    user = users.create_user("  Alice@Example.COM ", "correct horse battery", name=" Alice ")
    db.session.commit()
    assert (user.email, user.name, user.role) == ("alice@example.com", "Alice", Role.USER)
    assert not user.is_verified and user.session_version == 0
    with pytest.raises(Conflict):
        users.create_user("ALICE@example.com", "another good password")
    db.session.rollback()
    with pytest.raises(WeakPassword):
        users.create_user("bob@example.com", "password12345")


def test_provider_only_accounts_have_no_password(app):
    user = users.create_user("oauth@example.com", None, name="O", verified=True)
    db.session.commit()
    assert user.password_hash is None and user.is_verified
    assert users.authenticate("oauth@example.com", "") is None
    assert users.authenticate("oauth@example.com", "any password here") is None


def test_authenticate_audits_failures_with_a_hashed_ip(app, make_user):
    user = make_user()
    assert users.authenticate("alice@example.com", "correct horse battery").id == user.id
    assert users.authenticate("alice@example.com", "wrong password") is None
    assert users.authenticate("ghost@example.com", "wrong password") is None
    entry = audit.record("custom_event", user, ip="203.0.113.9", source="test")
    db.session.commit()
    rows = db.session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert [r.event for r in rows][-3:] == ["sign_in_failed", "sign_in_failed", "custom_event"]
    assert rows[-3].details == {"reason": "bad_password"} and rows[-3].user_id == user.id
    assert rows[-2].details == {"reason": "unknown_email"} and rows[-2].user_id is None
    assert entry.ip_hash == audit.hash_ip("203.0.113.9") and len(entry.ip_hash) == 64
    assert "203.0.113.9" not in entry.ip_hash


def test_embedded_default_writes_mail_to_instance_folder(app, tmp_path, monkeypatch):
    """No MAIL_SERVER: the message lands in instance/mail/*.eml (here a temp instance path)."""
    from app.infra import mail

    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    assert not app.config.get("MAIL_SERVER")
    message = mail.build_message("a@example.com", "Hello", "text body", "<p>html body</p>")
    mail.deliver(message)
    files = list(Path(tmp_path, "mail").glob("*.eml"))
    assert len(files) == 1
    raw = files[0].read_text()
    assert "Subject: Hello" in raw and "text body" in raw and "html body" in raw


def test_reset_request_for_unknown_email_sends_nothing(app, make_user):
    make_user()
    users.request_password_reset("nobody@example.com")
    users.request_password_reset("not an email")
    assert db.session.scalars(select(OutboxMessage)).all() == []
    app.config["PUBLIC_URL"] = "https://linkarooie.example"
    try:
        users.request_password_reset("alice@example.com")  # outside a request: PUBLIC_URL links
    finally:
        app.config["PUBLIC_URL"] = None
    (message,) = db.session.scalars(select(OutboxMessage)).all()
    assert (message.kind, message.recipient) == ("reset", "alice@example.com")
    assert message.payload == {"site_url": "https://linkarooie.example"}  # no token stored
    db.session.rollback()


def test_password_change_bumps_the_session_version(app, make_user):
    user = make_user()
    users.change_password(user, "correct horse battery", "bright meadow compass")
    assert user.session_version == 1
    assert User.get_id(user) == f"{user.id}:1"


def test_services_take_the_client_address_as_a_plain_value(app):
    users.create_user("alice@example.com", "correct horse battery", ip="203.0.113.9")
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "198.51.100.1"}):
        users.authenticate("alice@example.com", "wrong password")  # no ip given: none recorded
    events = {e.event: e for e in db.session.scalars(select(AuditLog))}
    assert events["sign_up"].ip_hash == audit.hash_ip("203.0.113.9")
    assert events["sign_in_failed"].ip_hash is None  # the service never reads the request
