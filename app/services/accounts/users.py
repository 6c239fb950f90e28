"""Accounts: create, authenticate, verify, change and reset. Callers commit."""

from __future__ import annotations

import logging
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.infra import row_security
from app.models import Role, User
from app.models.user import normalize_email
from app.services.accounts import api_tokens, audit, passwords, recovery, tokens
from app.services.exceptions import Conflict, DomainError
from app.services.notifications.mail import queue_mail

log = logging.getLogger(__name__)


class InvalidEmail(DomainError):
    def __init__(self, message: str):
        super().__init__(message, status=422, code="invalid_email")


class WrongPassword(DomainError):
    def __init__(self) -> None:
        super().__init__("That is not your current password.", status=422, code="wrong_password")


class ReauthRequired(DomainError):
    """The change needs a sign-in from just now (the web layer knows when that was)."""

    def __init__(self, message: str = "Please confirm it is you first.") -> None:
        super().__init__(message, status=403, code="reauth_required")


def clean_email(email: str) -> str:
    """Normalised and syntax-checked; no DNS lookup, so this works offline and in tests."""
    try:
        result = validate_email(normalize_email(email), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(f"That email address does not look right: {exc}") from None
    return normalize_email(result.normalized)


def canonical_email(email: str) -> str:
    """The identity an address typed into a form stands for: the same function decides which
    account signs in and which rate-limit bucket counts the attempt, so no other spelling of
    an address (full-width, upper-case, padded) gets a fresh bucket."""
    try:
        return clean_email(email)
    except InvalidEmail:
        return normalize_email(email)


def email_taken(email: str) -> bool:
    # Someone else's address: a look past row-level security, by design.
    with row_security.bypass("email uniqueness"):
        return (
            db.session.scalar(select(User.id).where(User.email == normalize_email(email)))
            is not None
        )


def create_user(
    email: str,
    password: str | None = None,
    *,
    name: str = "",
    verified: bool = False,
    admin: bool = False,
    now: datetime | None = None,
    ip: str | None = None,
) -> User:
    """A new account; `password=None` for one that signs in through a provider only."""
    email = clean_email(email)
    name = name.strip()
    if password is not None:
        passwords.check_policy(password, email=email, name=name)
    user = User(
        email=email,
        name=name,
        password_hash=passwords.hash_password(password) if password is not None else None,
        role=Role.ADMIN if admin else Role.USER,
        email_verified_at=(now or tokens.utcnow()) if verified else None,
        session_version=0,
    )
    try:
        with db.session.begin_nested():  # a concurrent sign-up with the same email loses cleanly
            db.session.add(user)
    except IntegrityError:
        raise Conflict("An account with this email address already exists.") from None
    audit.record("sign_up", user, ip, method="password" if password is not None else "provider")
    return user


def authenticate(email: str, password: str, *, ip: str | None = None) -> User | None:
    """The user for these credentials, or None. Records failures in the audit log."""
    user = db.session.scalar(User.by_email(canonical_email(email)))
    # verify_password runs Argon2 even without a user, so timing does not reveal accounts.
    if not passwords.verify_password(user.password_hash if user else None, password):
        reason = "bad_password" if user else "unknown_email"
        audit.record("sign_in_failed", user, ip, reason=reason)
        return None
    assert user is not None and user.password_hash is not None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    return user


def send_verification(user: User, *, now: datetime | None = None) -> None:
    queue_mail("verify", user)


def user_for_verification(token: str, *, now: datetime | None = None) -> User:
    """The account a verification link is for; InvalidLink/ExpiredLink once used or too old."""
    return tokens.read_token(token, tokens.VERIFY, now=now).user


def verify_email(
    token: str,
    *,
    signed_in_as: int | None = None,
    ip: str | None = None,
    now: datetime | None = None,
) -> recovery.Secured | None:
    """Confirm the address. Opened by a browser that is not signed in to this account, the link
    proves that whoever owns the inbox may not be whoever set the account up: everything set up
    before (tokens, identities linked meanwhile, sessions) is revoked. Returns what was revoked.
    """
    user = tokens.read_token(token, tokens.VERIFY, now=now).user
    if user.email_verified_at is not None:
        return None
    secured = None
    if signed_in_as != user.id:
        secured = recovery.secure_account(user, reason="verified_elsewhere", ip=ip, now=now)
    user.email_verified_at = now or tokens.utcnow()
    audit.record("email_verified", user, ip)
    return secured


def update_profile(user: User, *, name: str) -> None:
    user.name = name.strip()


def change_password(
    user: User, current: str, new: str, *, reauthenticated: bool = False, ip: str | None = None
) -> None:
    """Asks for the current password, or for an account without one a sign-in through its
    provider just now (`reauthenticated`); signs out other sessions, keeps the API tokens."""
    if user.password_hash is None:
        if not reauthenticated:
            raise ReauthRequired("Confirm it is you with your sign-in provider to set a password.")
    elif not passwords.verify_password(user.password_hash, current):
        raise WrongPassword()
    _set_password(user, new)
    api_tokens.carry_over(user)  # the owner, with their password: only other devices end
    audit.record("password_changed", user, ip)


def request_password_reset(
    email: str, *, ip: str | None = None, now: datetime | None = None
) -> None:
    """Mail a reset link if the account exists. Says nothing either way (no account probing)."""
    try:
        user = db.session.scalar(User.by_email(clean_email(email)))
    except InvalidEmail:
        return
    if user is None:
        log.info("password reset asked for an unknown address", extra={"event": "reset_unknown"})
        return
    queue_mail("reset", user)
    audit.record("password_reset_requested", user, ip)


def user_for_reset(token: str, *, now: datetime | None = None) -> User:
    return tokens.read_token(token, tokens.RESET, now=now).user


def reset_password(
    token: str, new: str, *, ip: str | None = None, now: datetime | None = None
) -> User:
    """Set a new password from a reset link: the inbox's owner takes the account back, so every
    session, API token and identity linked while unconfirmed goes (recovery.secure_account)."""
    user = user_for_reset(token, now=now)
    passwords.check_policy(new, email=user.email, name=user.name)
    recovery.secure_account(user, reason="password_reset", ip=ip, now=now)
    user.password_hash = passwords.hash_password(new)
    if user.email_verified_at is None:
        user.email_verified_at = now or tokens.utcnow()  # the link reached their inbox
    audit.record("password_reset", user, ip)
    return user


def request_email_change(
    user: User,
    new_email: str,
    password: str,
    *,
    reauthenticated: bool = False,
    ip: str | None = None,
) -> str:
    """Mail a confirmation link to the new address; the change applies once it is opened.
    Needs the password, or for an account without one a provider sign-in just now."""
    if user.password_hash is None:
        if not reauthenticated:
            raise ReauthRequired(
                "Confirm it is you with your sign-in provider to change your email address."
            )
    elif not passwords.verify_password(user.password_hash, password):
        raise WrongPassword()
    new_email = clean_email(new_email)
    if new_email == user.email:
        raise InvalidEmail("That is already your email address.")
    if email_taken(new_email):
        raise Conflict("Another account already uses that email address.")
    queue_mail("email_change", user, to=new_email, new_email=new_email)
    audit.record("email_change_requested", user, ip, new_email=new_email)
    return new_email


def confirm_email_change(token: str, *, ip: str | None = None, now: datetime | None = None) -> User:
    """Apply the change; the account changes hands with its address, so every session and API
    token ends (recovery.secure_account) and the browser that confirmed signs in afresh."""
    claims = tokens.read_token(token, tokens.EMAIL_CHANGE, now=now)
    user, new_email = claims.user, claims.data.get("new_email", "")
    if not new_email or email_taken(new_email):
        raise Conflict("Another account already uses that email address.")
    old_email = user.email
    recovery.secure_account(user, reason="email_changed", ip=ip, now=now)
    user.email = new_email
    user.email_verified_at = now or tokens.utcnow()
    audit.record("email_changed", user, ip, old_email=old_email, new_email=new_email)
    # The old inbox hears about it, so a hijacked account does not change hands silently.
    queue_mail("email_changed", user, to=old_email, old_email=old_email, new_email=new_email)
    return user


def _set_password(user: User, new: str) -> None:
    passwords.check_policy(new, email=user.email, name=user.name)
    user.password_hash = passwords.hash_password(new)
    user.session_version += 1  # old session ids and remember cookies stop matching
