"""Starting and ending signed-in sessions; shared with the OAuth blueprint.

Each sign-in opens a server-side session row (services/accounts/sessions.py) whose key rides in
the user id Flask-Login keeps in the session and remember cookies; signing out ends the row, so
copies of either cookie are refused afterwards. The time of the last real authentication
(password, provider, emailed link) is kept in the session for the "just now" checks of reauth.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import current_app, g, request, session
from flask_login import LoginManager, login_user, logout_user, user_loaded_from_cookie
from flask_login.utils import decode_cookie

from app.infra import row_security
from app.keys import fallback_secrets
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
    row_security.act_as(user.id)  # the rest of this request is theirs
    mark_authenticated()
    from app.blueprints.auth.settings import device_label

    # The device is what tells a sign-in from somewhere new (a security notice; audit.py).
    device = device_label(client_agent()) if client_agent() else None
    audit.record("sign_in", user, client_ip(), method=method, remember=remember, device=device)


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
    row_security.act_as(None)
    session.clear()
    # logout_user asked for the remember cookie to be deleted; clearing the session dropped that
    # request, and the browser would come straight back in with the cookie.
    session["_remember"] = "clear"


def remember_cookie_loader(manager: LoginManager) -> Callable[[str], User | None]:
    """Flask-Login's remember-cookie step, reading cookies signed with SECRET_KEY or any of
    SECRET_KEY_FALLBACKS (Flask-Login itself signs new ones with SECRET_KEY). The cookie holds
    the server-side session key, so a live session row is still what lets it in."""

    def load(cookie: str) -> User | None:
        keys = [current_app.config["SECRET_KEY"], *fallback_secrets(current_app)]
        user_id = next(filter(None, (decode_cookie(cookie, key=key) for key in keys)), None)
        if user_id is None or manager._user_callback is None:
            return None
        session["_user_id"] = user_id
        session["_fresh"] = False
        user = manager._user_callback(user_id)
        if user is not None:
            user_loaded_from_cookie.send(current_app._get_current_object(), user=user)
        return user

    return load
