"""Starting and ending signed-in sessions; shared with the OAuth blueprint.

Each sign-in opens a server-side session row (services/accounts/sessions.py) whose key rides in
the user id Flask-Login keeps in the session and remember cookies; signing out ends the row, so
copies of either cookie are refused afterwards. The time of the last real authentication
(password, provider, emailed link) is kept in the session for the "just now" checks of reauth.py.
"""

from __future__ import annotations

import time

from flask import current_app, g, request, session
from flask_login import login_user, logout_user

from app.models import User, UserSession
from app.services.accounts import audit, sessions

AUTH_AT = "auth_at"  # unix time of this session's last real authentication


def client_ip() -> str | None:
    return request.remote_addr


def client_agent() -> str:
    return request.user_agent.string or ""


def start_session(user: User, remember: bool = False, *, method: str = "password") -> None:
    """Sign `user` in on a brand-new session (no fixation) and audit it. The caller commits.

    Everything in the old session is dropped, including its CSRF secret: read what you need
    (e.g. a `next` target) before calling this.
    """
    user = _unproxied(user)
    end_current_record()
    session.clear()
    user.session_key = sessions.open_session(
        user, method=method, remember=remember, ip=client_ip(), user_agent=client_agent()
    )
    login_user(user, remember=remember, fresh=True)
    mark_authenticated()
    audit.record("sign_in", user, client_ip(), method=method, remember=remember)


def mark_authenticated() -> None:
    session[AUTH_AT] = int(time.time())


def _unproxied(user: User) -> User:
    # login_user stores what it is given in g; storing the current_user proxy itself would make
    # current_user resolve to itself forever.
    return user._get_current_object() if hasattr(user, "_get_current_object") else user


def current_record() -> UserSession | None:
    """The server-side session this request was loaded with (set by security.load_user)."""
    return g.get("user_session")


def end_current_record() -> None:
    record = current_record()
    if record is not None:
        sessions.end(record)
        g.pop("user_session", None)


def refresh_session(user: User) -> None:
    """Re-issue this browser's session after the user's session version changed (password change),
    so this session survives while every other one ends."""
    user = _unproxied(user)
    sessions.end_all(user, keep=current_record())
    remembered = current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
    login_user(user, remember=remembered, fresh=True)


def end_session(user: User | None) -> None:
    if user is not None:
        audit.record("sign_out", user, client_ip())
    end_current_record()
    logout_user()
    session.clear()
    # logout_user asked for the remember cookie to be deleted; clearing the session dropped that
    # request, and the browser would come straight back in with the cookie.
    session["_remember"] = "clear"
