"""Mail goes through the outbox: written with the change, rendered and signed in the job,
retried with backoff when SMTP fails, and sent later by the reconciler when Redis was down."""

from datetime import timedelta

import pytest
from rq.job import Job

from app.extensions import db
from app.jobs import RQBackend
from app.models import OutboxMessage, OutboxStatus, User
from app.services.accounts import users
from app.services.notifications import outbox
from app.tasks.mail import send_outbox
from app.tasks.maintenance import reconcile
from tests.conftest import scheduled_jobs
from tests.factories import UserFactory
from tests.peers.ports import free_port as _free_port


def _sign_up(client, email: str = "new@example.com"):
    data = {"name": "Nina", "email": email, "password": "purple mango tractor"}
    response = client.post("/sign-up", data=data)
    assert response.status_code == 302
    return db.session.scalar(User.by_email(email))


def _only_message() -> OutboxMessage:
    (message,) = db.session.scalars(db.select(OutboxMessage)).all()
    return message


@pytest.fixture
def redis_down(app):
    """Redis unreachable (nothing listens on the port) until the fixture's `restore()`."""
    working = app.extensions["jobs"]
    app.extensions["jobs"] = RQBackend(f"redis://127.0.0.1:{_free_port()}/0", prefix=working.prefix)

    def restore() -> None:
        app.extensions["jobs"] = working

    yield restore
    restore()


@pytest.mark.services  # Redis down at commit
def test_verify_mail_is_delivered_by_the_reconciler_after_redis_was_down_at_commit(
    app, client, mail_sink, run_jobs, redis_down
):
    user = _sign_up(client)  # the request commits; queueing the mail fails
    redis_down()
    assert run_jobs() == 0 and mail_sink.to("new@example.com") == []
    message = _only_message()
    assert message.status is OutboxStatus.PENDING and message.user_id == user.id

    assert reconcile(timedelta(minutes=15))["mail"] == [message.id]
    assert run_jobs() == 1
    mail = mail_sink.last(to="new@example.com")
    assert mail["Subject"] == "Confirm your email address"
    verified = client.get(mail_sink.link(mail, "/verify/"), follow_redirects=True)
    assert b"Your email address is confirmed" in verified.data
    assert _only_message().status is OutboxStatus.SENT


@pytest.mark.services  # what Redis holds
def test_links_are_signed_in_the_job_and_stored_nowhere(app, client, mail_sink, run_jobs):
    _sign_up(client)
    message = _only_message()
    assert set(message.payload) == {"site_url"}  # no token, no link, no rendered text
    backend = app.extensions["jobs"]
    (job_id,) = backend.queue(send_outbox.queue_name).job_ids
    assert Job.fetch(job_id, connection=backend.redis).args == (message.id,)

    run_jobs()
    link = mail_sink.link(mail_sink.last(to="new@example.com"), "/verify/")
    token = link.rsplit("/", 1)[-1]
    ours = backend.redis.scan_iter(match=f"rq:job:{backend.prefix.replace(':', '_')}*")
    jobs = [key.decode().split(":")[2] for key in ours if key.count(b":") == 2]
    assert jobs  # the finished send job is still there to look at
    for job_id in jobs:
        job = Job.fetch(job_id, connection=backend.redis)
        assert token not in repr(job.args) + repr(job.kwargs) + (job.description or "")
    assert token not in repr(_only_message().payload)


def test_smtp_failure_is_recorded_and_retried_with_backoff(app, mail_sink, run_jobs):
    user = UserFactory(email="alice@example.com")
    app.config["PUBLIC_URL"] = "https://linkarooie.example"
    users.request_password_reset(user.email)
    db.session.commit()
    app.config["PUBLIC_URL"] = None
    working_port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = _free_port()  # the SMTP server is down
    try:
        assert run_jobs() == 1
    finally:
        app.config["MAIL_PORT"] = working_port
    message = _only_message()
    assert message.status is OutboxStatus.PENDING and message.attempts == 1
    assert "Connection refused" in message.last_error
    wait = message.next_attempt_at - message.created_at
    assert timedelta(seconds=55) < wait < timedelta(seconds=65 + 30)
    assert scheduled_jobs(app, send_outbox.queue_name) == 1  # the retry waits for its time
    assert mail_sink.to(user.email) == []

    # Not due yet: a duplicate delivery of the job sends nothing.
    assert outbox.send(message.id) is OutboxStatus.PENDING
    # Due: the retry goes out, with a link signed now.
    assert outbox.send(message.id, now=message.next_attempt_at) is OutboxStatus.SENT
    mail = mail_sink.last(to=user.email)
    assert mail_sink.link(mail, "/reset-password/", path_only=False).startswith(
        "https://linkarooie.example/reset-password/"
    )
    sent = _only_message()
    assert sent.attempts == 2 and sent.last_error is None and sent.sent_at is not None


def test_mail_gives_up_after_the_last_attempt(app, mail_sink, run_jobs):
    app.config.update(OUTBOX_MAX_ATTEMPTS=3, OUTBOX_RETRY_BASE=0, PUBLIC_URL="https://l.example")
    user = UserFactory(email="bob@example.com")
    users.request_password_reset(user.email)
    db.session.commit()
    working_port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = _free_port()
    try:
        assert run_jobs() == 3  # the first try and two immediate retries
        message = _only_message()
        assert (message.status, message.attempts) == (OutboxStatus.FAILED, 3)
        assert reconcile(timedelta(0))["mail"] == []  # given up: not queued again
    finally:
        app.config.update(
            MAIL_PORT=working_port, OUTBOX_MAX_ATTEMPTS=8, OUTBOX_RETRY_BASE=60, PUBLIC_URL=None
        )


def test_a_verify_mail_for_an_address_verified_meanwhile_is_skipped(
    app, client, mail_sink, run_jobs
):
    user = _sign_up(client)
    user.email_verified_at = db.func.now()
    db.session.commit()
    run_jobs()
    assert _only_message().status is OutboxStatus.SKIPPED
    assert mail_sink.to("new@example.com") == []


def test_mail_written_in_a_rolled_back_savepoint_is_never_sent(app, mail_sink, run_jobs):
    user = UserFactory(email="carol@example.com")
    app.config["PUBLIC_URL"] = "https://l.example"
    try:
        with pytest.raises(RuntimeError), db.session.begin_nested():
            users.request_password_reset(user.email)
            raise RuntimeError("the caller's step failed")
        db.session.commit()
    finally:
        app.config["PUBLIC_URL"] = None
    assert run_jobs() == 0
    assert db.session.scalars(db.select(OutboxMessage)).all() == []
