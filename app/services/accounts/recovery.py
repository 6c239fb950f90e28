"""Taking an account back: when someone proves they own the address (a password reset, a
confirmed email change, a verification from a browser that is not the account's), whatever was
set up before can no longer be trusted. Callers commit.

- every API token is revoked (a bearer token outlives any password, and tokens can be remade in
  a minute);
- every sign-in identity linked while the address was unconfirmed is removed (whoever registered
  the address may have linked their own provider account);
- every session ends: the session version moves on (older cookies, remember cookies and tokens
  stop matching) and every server-side session row is ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete

from app.extensions import db
from app.models import OAuthIdentity, User
from app.services.accounts import api_tokens, audit, sessions


@dataclass(frozen=True)
class Secured:
    tokens: int
    identities: int
    sessions: int


def secure_account(
    user: User, *, reason: str, ip: str | None = None, now: datetime | None = None
) -> Secured:
    tokens = api_tokens.revoke_all(user, now=now)
    identities = db.session.execute(
        delete(OAuthIdentity)
        .where(OAuthIdentity.user_id == user.id, OAuthIdentity.linked_unverified.is_(True))
        .execution_options(synchronize_session="fetch")
    ).rowcount
    user.session_version += 1
    ended = sessions.end_all(user, now=now)
    audit.record(
        "account_secured",
        user,
        ip,
        reason=reason,
        tokens_revoked=tokens,
        identities_removed=identities or 0,
        sessions_ended=ended,
    )
    return Secured(tokens, identities or 0, ended)
