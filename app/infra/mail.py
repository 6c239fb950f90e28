"""Mail delivery: build a MIME message and hand it to SMTP (or a file in the embedded default).

With MAIL_SERVER set, the job speaks SMTP. Without it (the embedded default) each message is
written to instance/mail/<time>-<id>.eml and logged, so sign-up works with nothing installed.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from flask import current_app

log = logging.getLogger(__name__)

# RFC 5322's own line limit rather than the 78-character advice: a header holding one long
# token (a List-Unsubscribe URL) would otherwise be split into RFC 2047 encoded words, which
# mail clients do not read back as a URL.
MAIL_POLICY = policy.default.clone(max_line_length=998)


def build_message(
    to: str, subject: str, text: str, html: str, *, headers: dict[str, str] | None = None
) -> EmailMessage:
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = datetime.now(UTC)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or None)
    message["Auto-Submitted"] = "auto-generated"  # no out-of-office replies to a robot
    for name, value in (headers or {}).items():
        message[name] = value
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
