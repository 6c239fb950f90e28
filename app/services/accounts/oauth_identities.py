"""Sign-in identities at OAuth providers: sign in, create, link (with proof), unlink.

Callers commit.

Rules:
- A linked identity signs its user in.
- A first sign-in whose verified email matches an existing account does NOT sign in: it leaves a
  pending identity, linked only once that account proves it wants it (its password, or a signed,
  single-use link mailed to it, valid one hour).
- Otherwise a new account is made: email verified (the provider verified it), no password.
- Without a verified email there is nothing to match or create an account with.
- Unlinking never removes the last way to sign in.
- Linking from Settings needs a confirmed address; an identity linked while the address was
  unconfirmed is marked, and goes when the address's owner takes the account back.
"""

from __future__ import annotations

import enum
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select

from app.extensions import db
from app.keys import EMAIL_LINKS, verification_keys
from app.models import OAuthIdentity, User
from app.services.accounts import audit, users
from app.services.exceptions import Conflict, DomainError, NotFound

log = logging.getLogger(__name__)

LINK_MAX_AGE = 3600  # seconds an emailed link-confirmation stays valid
_LINK_SALT = "lk-oauth-link"


@dataclass(frozen=True)
class Profile:
    """Who the provider says signed in. `email` is set only when the provider vouches for it."""

    subject: str
    email: str | None
    name: str = ""


class Outcome(enum.StrEnum):
    SIGNED_IN = "signed_in"  # a linked identity: its user
    CREATED = "created"  # a new account
    PENDING = "pending"  # an existing account must prove it wants this link


@dataclass(frozen=True)
class Resolution:
    outcome: Outcome
    identity: OAuthIdentity

    @property
    def user(self) -> User:
        return self.identity.user


class NoVerifiedEmail(DomainError):
    def __init__(self, label: str) -> None:
        super().__init__(
            f"{label} did not share a verified email address with us, so we cannot sign you in "
            f"or create an account with it. Verify your email at {label}, or sign up with your "
            "email address instead.",
            status=422,
            code="oauth_email_unverified",
        )


class InvalidLinkConfirmation(DomainError):
    def __init__(
        self, message: str = "This link is not valid, or it has already been used."
    ) -> None:
        super().__init__(message, status=400, code="invalid_link")


def _now() -> datetime:
    return datetime.now(UTC)


def find(provider: str, subject: str) -> OAuthIdentity | None:
    return db.session.scalar(OAuthIdentity.lookup(provider, subject))


def sign_in_methods(user: User) -> list[OAuthIdentity]:
    """The user's linked identities (pending ones are not a way to sign in)."""
    return list(db.session.scalars(OAuthIdentity.linked_to(user.id)))


def _attach(
    identity: OAuthIdentity | None, provider: str, profile: Profile, user: User, *, linked: bool
) -> OAuthIdentity:
    if identity is None:
        identity = OAuthIdentity(provider=provider, subject=profile.subject)
        db.session.add(identity)
    identity.user = user
    identity.email = profile.email
    identity.linked_at = _now() if linked else None
    identity.linked_unverified = linked and not user.is_verified
    # A fresh nonce per pending request: any older emailed link for this identity stops working.
    identity.link_nonce = None if linked else secrets.token_urlsafe(24)
    db.session.flush()
    return identity


def sign_in(provider: str, label: str, profile: Profile, *, ip: str | None = None) -> Resolution:
    """What a completed provider sign-in means: who it signs in, or what proof is still needed."""
    identity = find(provider, profile.subject)
    if identity is not None and identity.is_linked:
        identity.last_sign_in_at = _now()
        if profile.email:
            identity.email = profile.email
        return Resolution(Outcome.SIGNED_IN, identity)
    if not profile.email:
        raise NoVerifiedEmail(label)
    existing = db.session.scalar(User.by_email(profile.email))
    if existing is not None:
        identity = _attach(identity, provider, profile, existing, linked=False)
        log.info("oauth %s sign-in matches user %s: link pending", provider, existing.id)
        return Resolution(Outcome.PENDING, identity)
    user = users.create_user(profile.email, None, name=profile.name[:120], verified=True, ip=ip)
    identity = _attach(identity, provider, profile, user, linked=True)
    identity.last_sign_in_at = identity.linked_at
    audit.record("oauth_linked", user, ip, provider=provider, via="sign_up")
    return Resolution(Outcome.CREATED, identity)


def link(
    user: User, provider: str, label: str, profile: Profile, *, ip: str | None = None
) -> OAuthIdentity:
    """Link the provider account to the signed-in `user` (who just proved it at the provider)."""
    if not user.is_verified:
        raise DomainError(
            f"Confirm your email address before linking {label}: open the link we emailed you, "
            "or ask for a new one in Settings.",
            status=403,
            code="verify_first",
        )
    identity = find(provider, profile.subject)
    if identity is not None and identity.is_linked:
        if identity.user_id != user.id:
            raise Conflict(f"This {label} account is already linked to another Linkarooie account.")
        return identity
    other = db.session.scalar(
        OAuthIdentity.linked_to(user.id).where(OAuthIdentity.provider == provider)
    )
    if other is not None:
        raise Conflict(f"You already have a {label} account linked. Unlink it first.")
    identity = _attach(identity, provider, profile, user, linked=True)
    audit.record("oauth_linked", user, ip, provider=provider, via="settings")
    return identity


def pending(identity_id: int | None, nonce: str | None) -> OAuthIdentity | None:
    """The pending identity a session points at, if it is still the same request."""
    if not identity_id or not nonce:
        return None
    identity = db.session.get(OAuthIdentity, identity_id)
    if identity is None or identity.is_linked or identity.link_nonce != nonce:
        return None
    return identity


def confirm(identity: OAuthIdentity, *, via: str, ip: str | None = None) -> User:
    """The account proved it: the pending identity becomes a way to sign in to it."""
    if identity.is_linked:
        raise InvalidLinkConfirmation()
    identity.linked_at = identity.last_sign_in_at = _now()
    identity.linked_unverified = not identity.user.is_verified
    identity.link_nonce = None  # single use: the emailed link no longer matches
    audit.record("oauth_linked", identity.user, ip, provider=identity.provider, via=via)
    return identity.user


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(verification_keys(current_app, EMAIL_LINKS), salt=_LINK_SALT)


def make_link_token(identity: OAuthIdentity) -> str:
    return _serializer().dumps({"i": identity.id, "n": identity.link_nonce})


def read_link_token(token: str, *, max_age: int = LINK_MAX_AGE) -> OAuthIdentity:
    """The pending identity an emailed link confirms; InvalidLinkConfirmation otherwise."""
    try:
        data = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise InvalidLinkConfirmation(
            "This link has expired. Sign in with the provider again to get a new one."
        ) from None
    except BadSignature:
        raise InvalidLinkConfirmation() from None
    if not isinstance(data, dict):
        raise InvalidLinkConfirmation()
    identity = pending(data.get("i"), data.get("n"))
    if identity is None:
        raise InvalidLinkConfirmation()
    return identity


def can_unlink(user: User, methods: list[OAuthIdentity] | None = None) -> bool:
    """False when that would leave the account without any way to sign in."""
    if user.password_hash is not None:
        return True
    count = (
        len(methods)
        if methods is not None
        else db.session.scalar(
            select(func.count()).select_from(OAuthIdentity.linked_to(user.id).subquery())
        )
    )
    return count > 1


def unlink(user: User, provider: str, label: str, *, ip: str | None = None) -> None:
    identity = db.session.scalar(
        OAuthIdentity.linked_to(user.id).where(OAuthIdentity.provider == provider)
    )
    if identity is None:
        raise NotFound(f"No {label} account is linked to yours.")
    if not can_unlink(user):
        raise Conflict(
            f"{label} is your only way to sign in. Set a password or link another account "
            "before unlinking it."
        )
    db.session.delete(identity)
    audit.record("oauth_unlinked", user, ip, provider=provider)
