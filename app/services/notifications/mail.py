"""Outgoing mail: render HTML + text from templates/email/; a job delivers it after commit."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, has_request_context, render_template, url_for

from app.jobs import enqueue_on_commit

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
    context = {"subject": subject, **context}
    text = render_template(f"email/{template}.txt", **context)
    html = render_template(f"email/{template}.html", **context)
    enqueue_on_commit("send_email", to, subject, text, html)
