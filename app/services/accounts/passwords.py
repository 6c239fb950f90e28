"""Password rules and hashing: Argon2id (argon2-cffi) and a common-password list."""

from __future__ import annotations

import functools
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.services.exceptions import DomainError

MIN_LENGTH = 10
MAX_LENGTH = 256  # Argon2 hashes anything, but a megabyte "password" is a CPU attack, not a secret
COMMON_PASSWORDS = Path(__file__).resolve().parent / "data" / "common-passwords.txt"

# argon2-cffi's defaults are the RFC 9106 "low memory" profile of Argon2id.
_hasher = PasswordHasher()
# Verified against when an email is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("linkarooie-timing-equaliser")


class WeakPassword(DomainError):
    def __init__(self, message: str):
        super().__init__(message, status=422, code="weak_password")


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def check_policy(password: str, *, email: str = "", name: str = "") -> None:
    """Raise WeakPassword with a message a person can act on."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters.")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    if lowered in common_passwords() or len(set(lowered)) < 3:
        raise WeakPassword("That password is too common. Try a few unrelated words together.")
    personal = {email.lower(), email.lower().partition("@")[0], name.lower()} - {""}
    if lowered in personal:
        raise WeakPassword("Your password must not be your name or email address.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-ish time: a missing hash still costs one Argon2 verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the stored hash was made with weaker parameters than today's."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True
