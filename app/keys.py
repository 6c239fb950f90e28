"""One secret in the environment, a separate key for each use of it.

SECRET_KEY never signs or hashes anything directly: every purpose (session cookies, email links,
IP hashing, token encryption) gets its own key derived with HKDF-SHA256, so a key leaked or
misused in one place says nothing about the others. SECRET_KEY_FALLBACKS (old secrets, newest
first) keeps what was signed before a rotation verifiable; new signatures use the current key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

SESSIONS = "sessions"
EMAIL_LINKS = "email-links"
IP_HASH = "ip-hash"
TOKEN_ENCRYPTION = "token-encryption"
STORAGE_KEYS = "image-storage-keys"
AUDIT_SUBJECTS = "audit-subjects"  # a deleted person's identifiers in the audit log
PURPOSES = frozenset(
    {SESSIONS, EMAIL_LINKS, IP_HASH, TOKEN_ENCRYPTION, STORAGE_KEYS, AUDIT_SUBJECTS}
)


def _config(app_or_config: Flask | Mapping[str, Any]) -> Mapping[str, Any]:
    return app_or_config.config if isinstance(app_or_config, Flask) else app_or_config


def _hkdf(secret: str | bytes, purpose: str) -> bytes:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown key purpose {purpose!r}")
    material = secret.encode() if isinstance(secret, str) else secret
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"linkarooie", info=purpose.encode()
    ).derive(material)


def fallback_secrets(app_or_config: Flask | Mapping[str, Any]) -> list[str]:
    value = _config(app_or_config).get("SECRET_KEY_FALLBACKS") or []
    if isinstance(value, str):
        value = value.split(",")
    return [key.strip() for key in value if key and key.strip()]


def derive_key(app_or_config: Flask | Mapping[str, Any], purpose: str) -> bytes:
    """The current 32-byte key for `purpose` (what new signatures and hashes use)."""
    return _hkdf(_config(app_or_config)["SECRET_KEY"], purpose)


def verification_keys(app_or_config: Flask | Mapping[str, Any], purpose: str) -> list[bytes]:
    """Keys for itsdangerous, oldest first and the current key last (it signs with the last one
    and accepts any of them)."""
    old = [_hkdf(secret, purpose) for secret in reversed(fallback_secrets(app_or_config))]
    return [*old, derive_key(app_or_config, purpose)]


class DerivedKeySessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, signed with the sessions key (old keys still verify)."""

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        # Deriving the keys is HKDF work on every request otherwise; a rotation changes the key.
        cache_key = (app.secret_key, tuple(fallback_secrets(app)))
        cached = app.extensions.get("session_serializer")
        if cached is not None and cached[0] == cache_key:
            return cached[1]
        serializer = URLSafeTimedSerializer(
            verification_keys(app, SESSIONS),
            salt=self.salt,
            serializer=self.serializer,
            signer_kwargs={
                "key_derivation": self.key_derivation,
                "digest_method": self.digest_method,
            },
        )
        app.extensions["session_serializer"] = (cache_key, serializer)
        return serializer


def init_keys(app: Flask) -> None:
    app.config["SECRET_KEY_FALLBACKS"] = fallback_secrets(app)
    app.session_interface = DerivedKeySessionInterface()
