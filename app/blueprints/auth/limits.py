"""Throttles for the account endpoints (Flask-Limiter; Redis in production, memory embedded).

Limits come from settings at request time, so an operator can tune them without a deploy of
code, and each breach answers 429 with a sentence saying how long to wait (plus Retry-After,
which Flask-Limiter adds because RATELIMIT_HEADERS_ENABLED is on).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from flask import current_app, request
from flask_login import current_user

from app.extensions import limiter
from app.services.accounts.users import canonical_email


def wait_phrase() -> str:
    """ "in 40 seconds" / "in 12 minutes" for the limit that was just hit."""
    current = limiter.current_limit
    seconds = max(1, math.ceil(current.reset_at - time.time())) if current else 60
    if seconds < 90:
        return f"in {seconds} seconds"
    minutes = math.ceil(seconds / 60)
    return f"in {minutes} minutes" if minutes < 90 else f"in {math.ceil(minutes / 60)} hours"


def _message(what: str) -> Callable[[], str]:
    return lambda: f"{what} Please try again {wait_phrase()}."


def _setting(name: str) -> Callable[[], str]:
    return lambda: current_app.config[name]


def _form_email() -> str:
    """Per-account key: the address typed into the form, spelled the way sign-in looks it up
    (users.canonical_email), so "ｅxample.com" counts against example.com. Empty → skipped."""
    raw = request.form.get("email", "")
    return f"account:{canonical_email(raw)}" if raw.strip() else ""


def _user_key() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else request.remote_addr or ""


SIGN_IN_MESSAGE = "Too many sign-in attempts."

# Every POST from one address counts; for one account only the failures do (a 302 is a success),
# so a person who signs in and out a lot is never locked out by their own successes.
sign_in_ip = limiter.limit(
    _setting("SIGN_IN_RATE_LIMIT"), methods=["POST"], error_message=_message(SIGN_IN_MESSAGE)
)
sign_in_account = limiter.limit(
    _setting("SIGN_IN_ACCOUNT_RATE_LIMIT"),
    key_func=_form_email,
    methods=["POST"],
    deduct_when=lambda response: response.status_code != 302,
    error_message=_message("Too many failed sign-ins for this account."),
)
sign_up = limiter.limit(
    _setting("SIGN_UP_RATE_LIMIT"),
    methods=["POST"],
    error_message=_message("Too many new accounts from your network."),
)
# Mails: per address asking, and per target inbox (or signed-in user) so nobody gets mail-bombed.
email_ip = limiter.limit(
    _setting("EMAIL_RATE_LIMIT"),
    methods=["POST"],
    error_message=_message("We have sent several emails already."),
)
email_account = limiter.limit(
    _setting("EMAIL_RATE_LIMIT"),
    key_func=_form_email,
    methods=["POST"],
    error_message=_message("We have sent several emails already."),
)
email_user = limiter.limit(
    _setting("EMAIL_RATE_LIMIT"),
    key_func=_user_key,
    methods=["POST"],
    error_message=_message("We have sent several emails already."),
)
# Confirming it is you (reauth.py): failed password checks per signed-in user, like sign-in.
reauth_user = limiter.limit(
    _setting("SIGN_IN_ACCOUNT_RATE_LIMIT"),
    key_func=_user_key,
    methods=["POST"],
    deduct_when=lambda response: response.status_code != 302,
    error_message=_message("Too many failed attempts."),
)
