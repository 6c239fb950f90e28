"""Who is signed in, and what they may touch.

Every route that takes an object id loads it with `owned_or_404`: someone else's object is
indistinguishable from a missing one (404, not 403, so ids cannot be probed). Admins get no
implicit access to other people's objects; admin pages use their own queries.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import abort, current_app, g
from flask_login import current_user, login_required
from sqlalchemy import select

from app.extensions import db
from app.infra import row_security
from app.models import User

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def load_user(session_id: str) -> User | None:
    """Flask-Login's loader. The id is "<user id>:<session version>:<session key>" (User.get_id):
    bumping the version (password reset or change) ends every older session and remember cookie,
    and ending the server-side session (sign-out) ends the cookies that carry its key."""
    from app.services.accounts import sessions

    parts = session_id.split(":")
    if len(parts) != 3 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None  # a cookie from before server-side sessions, or tampered: signed out
    # The cookie is signed, so its id is whose rows this request may see; if the checks below
    # refuse it, the request goes back to seeing nobody's.
    row_security.act_as(int(parts[0]))
    user = db.session.get(User, int(parts[0]))
    if user is None or user.session_version != int(parts[1]):
        row_security.act_as(None)
        return None
    idle_limit = current_app.config["REMEMBER_COOKIE_DURATION"]
    record = sessions.find_live(user.id, parts[2], idle_limit=idle_limit)
    if record is None:
        row_security.act_as(None)
        return None
    clean = not (db.session.new or db.session.dirty or db.session.deleted)
    if sessions.touch(record) and clean:
        db.session.commit()  # only our own row: "last seen" in Settings, once a minute at most
    user.session_key = parts[2]
    g.user_session = record
    return user


def owned_or_404(model: type[T], object_id: Any, *, owner: User | None = None) -> T:
    """`model` row `object_id` if it belongs to the current user (its user_id or owner_id),
    else 404. Never special-cases admins."""
    owner = owner if owner is not None else current_user
    if not getattr(owner, "is_authenticated", False):
        abort(404)
    column = getattr(model, "user_id", None) or getattr(model, "owner_id", None)
    if column is None:
        raise TypeError(f"{model.__name__} has no user_id/owner_id column to check ownership")
    try:
        object_id = int(object_id)
    except (TypeError, ValueError):
        abort(404)
    pk = model.__mapper__.primary_key[0]  # type: ignore[attr-defined]
    found = db.session.scalar(select(model).where(pk == object_id, column == owner.id))
    if found is None:
        abort(404)
    return found


def across_people(reason: str) -> Callable[[F], F]:
    """The view must find people by something other than being signed in (an email, a link's
    token, a handle): it sees every person's rows (row_security.bypass, logged with `reason`)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with row_security.bypass(reason):
                return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


def admin_required(view: F) -> F:
    """Signed-in admins only; anyone else gets 403 (signed-out people are sent to sign in)."""

    @functools.wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


VERIFY_FIRST = (
    "Please confirm your email address first: open the link we emailed you, "
    "or ask for a new one in Settings."
)


def verified_required(view: F) -> F:
    """Signed in with a confirmed email (e.g. before connecting platforms); else 403 with why."""

    @functools.wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_verified:
            abort(403, description=VERIFY_FIRST)
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def safe_next(target: str | None, default: str = "/") -> str:
    """A same-site path to go to after sign-in, or `default`: never another host.

    Refuses absolute URLs, scheme-relative ones ("//evil.example"), backslash tricks that
    browsers read as "//" ("/\\evil.example") and control characters.
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(ch) < 32 or ch == "\\" for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
