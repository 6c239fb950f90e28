"""Outgoing mail: render HTML + text from templates/email/, send from a job after commit.

With MAIL_SERVER set, the job speaks SMTP. Without it (the embedded default) each message is
written to instance/mail/<time>-<id>.eml and logged, so sign-up works with nothing installed.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from flask import current_app, has_request_context, render_template, url_for

log = logging.getLogger(__name__)


def external_url(endpoint: str, **values: Any) -> str:
    """An absolute link for a mail. PUBLIC_URL wins over the request's Host header, which a
    client controls (a forged Host would otherwise put an attacker's domain in a reset link)."""
    base = current_app.config.get("PUBLIC_URL")
    if has_request_context():
        return (
            base.rstrip("/") + url_for(endpoint, **values)
            if base
            else url_for(endpoint, _external=True, **values)
        )
    if not base:  # a job or command has no Host header to fall back on
        raise RuntimeError("set PUBLIC_URL to send mail with links outside a web request")
    path = current_app.url_map.bind("localhost").build(endpoint, values)
    return base.rstrip("/") + path


def send_template(to: str, subject: str, template: str, **context: Any) -> None:
    """Render email/<template>.txt and .html now; send_email runs once the caller commits."""
    from app.tasks import enqueue_on_commit
    from app.tasks.mail import send_email

    context = {"subject": subject, **context}
    text = render_template(f"email/{template}.txt", **context)
    html = render_template(f"email/{template}.html", **context)
    enqueue_on_commit(send_email, to, subject, text, html)


def build_message(to: str, subject: str, text: str, html: str) -> EmailMessage:
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = datetime.now(UTC)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None)
    message["Auto-Submitted"] = "auto-generated"  # no out-of-office replies to a robot
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def deliver(message: EmailMessage) -> None:
    """Send over SMTP, or write an .eml file when no MAIL_SERVER is configured."""
    config = current_app.config
    if not config.get("MAIL_SERVER"):
        _write_eml(message)
        return
    timeout = config["MAIL_TIMEOUT"]
    if config["MAIL_USE_SSL"]:
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            config["MAIL_SERVER"],
            config["MAIL_PORT"],
            timeout=timeout,
            context=ssl.create_default_context(),
        )
    else:
        smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=timeout)
    with smtp:
        if config["MAIL_USE_TLS"] and not config["MAIL_USE_SSL"]:
            smtp.starttls(context=ssl.create_default_context())
        if config.get("MAIL_USERNAME"):
            smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
        smtp.send_message(message)
    log.info("mail sent: %s", message["Subject"], extra={"event": "mail_sent"})


def _write_eml(message: EmailMessage) -> Path:
    folder = Path(current_app.instance_path) / "mail"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
    path.write_bytes(bytes(message))
    # The log line is how someone running the embedded default finds their verification link.
    log.info(
        "mail written to %s (no MAIL_SERVER): %s to %s",
        path,
        message["Subject"],
        message["To"],
        extra={"event": "mail_written", "path": str(path)},
    )
    return path
