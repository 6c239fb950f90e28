"""What each kind of mail says: its subject, template and context, built when it is sent.

Links are signed here, in the send job, from the rows as they are then: a link never waits in
Redis or in the outbox, and a mail whose purpose has passed (the address is already verified,
the pending link was superseded) is skipped rather than sent with a dead link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.extensions import db
from app.models import OutboxMessage, User

Context = dict[str, Any]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Kind:
    template: str  # templates/email/<template>.txt and .html
    # None: no longer needed. A context may carry "headers" (extra mail headers, e.g.
    # List-Unsubscribe).
    compose: Callable[[OutboxMessage, User], Context | None]
    has_links: bool = True


def _link(message: OutboxMessage, endpoint: str, **values: Any) -> str:
    from app.services.notifications.mail import external_url

    return external_url(endpoint, _base=message.payload.get("site_url"), **values)


def _verify(message: OutboxMessage, user: User) -> Context | None:
    from app.services.accounts import tokens

    if user.email_verified_at is not None or user.email != message.recipient:
        return None
    token = tokens.make_token(user, tokens.VERIFY)
    return {
        "subject": "Confirm your email address",
        "link": _link(message, "auth.verify", token=token),
    }


def _reset(message: OutboxMessage, user: User) -> Context | None:
    from app.services.accounts import tokens

    token = tokens.make_token(user, tokens.RESET)
    return {"subject": "Reset your password", "link": _link(message, "auth.reset", token=token)}


def _email_change(message: OutboxMessage, user: User) -> Context | None:
    from app.services.accounts import tokens

    new_email = message.payload["new_email"]
    token = tokens.make_token(user, tokens.EMAIL_CHANGE, new_email=new_email)
    return {
        "subject": "Confirm your new email address",
        "new_email": new_email,
        "link": _link(message, "auth.confirm_email", token=token),
    }


def _email_changed(message: OutboxMessage, user: User) -> Context | None:
    return {
        "subject": "Your email address was changed",
        "old_email": message.payload["old_email"],
        "new_email": message.payload["new_email"],
    }


def _oauth_link(message: OutboxMessage, user: User) -> Context | None:
    from app.models import OAuthIdentity
    from app.services.accounts import oauth_identities

    identity = db.session.get(OAuthIdentity, message.payload["identity_id"])
    if (
        identity is None
        or identity.user_id != user.id
        or identity.is_linked
        or identity.link_nonce != message.payload["nonce"]  # a newer request replaced it
    ):
        return None
    label = message.payload["provider_label"]
    return {
        "subject": f"Link your {label} account to Linkarooie",
        "provider_label": label,
        "hours": oauth_identities.LINK_MAX_AGE // 3600,
        "link": _link(message, "oauth.confirm", token=oauth_identities.make_link_token(identity)),
    }


def _notify(message: OutboxMessage, user: User) -> Context | None:
    from app.services.notifications import mailing

    return mailing.compose(message, user)


KINDS: dict[str, Kind] = {
    "verify": Kind("verify", _verify),
    "reset": Kind("reset", _reset),
    "email_change": Kind("email_change", _email_change),
    "email_changed": Kind("email_changed", _email_changed, has_links=False),
    "oauth_link": Kind("oauth_link", _oauth_link),
    # Events from the stream (mailing.py); it records PUBLIC_URL itself: no request to ask.
    "notify": Kind("notify", _notify, has_links=False),
}
