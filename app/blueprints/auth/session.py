"""Starting and ending signed-in sessions; shared with the OAuth blueprint."""

from __future__ import annotations

from flask import current_app, request, session
from flask_login import login_user, logout_user

from app.models import User
from app.services.accounts import audit


def start_session(user: User, remember: bool = False, *, method: str = "password") -> None:
    """Sign `user` in on a brand-new session (no fixation) and audit it. The caller commits.

    Everything in the old session is dropped, including its CSRF secret: read what you need
    (e.g. a `next` target) before calling this.
    """
    user = _unproxied(user)
    session.clear()
    login_user(user, remember=remember, fresh=True)
    audit.record("sign_in", user, method=method, remember=remember)


def _unproxied(user: User) -> User:
    # login_user stores what it is given in g; storing the current_user proxy itself would make
    # current_user resolve to itself forever.
    return user._get_current_object() if hasattr(user, "_get_current_object") else user


def refresh_session(user: User) -> None:
    """Re-issue this browser's session after the user's session version changed (password change),
    so this session survives while every other one ends."""
    user = _unproxied(user)
    remembered = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
    login_user(user, remember=remembered, fresh=True)


def end_session(user: User | None) -> None:
    if user is not None:
        audit.record("sign_out", user)
    logout_user()
    session.clear()
