"""Secrets at rest (platform tokens, app passwords, client secrets), encrypted with versioned keys.

TOKEN_ENCRYPTION_KEYS holds "<version>:<Fernet key>" entries, comma-separated; the highest
version encrypts, every listed version decrypts. Each ciphertext names its key ("v3:gAAAA…"), so
adding a key and running `flask rotate-token-keys` moves every row onto it, after which the old
key can be dropped. Fernet (AES-128-CBC + HMAC-SHA256) authenticates as well as hides: a row
edited in the database fails to decrypt instead of yielding a forged token.
"""

from __future__ import annotations

import secrets
from base64 import urlsafe_b64encode
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app


class EncryptionKeyError(ValueError):
    """TOKEN_ENCRYPTION_KEYS is malformed, or a stored value names a key we no longer have."""


def generate_key() -> str:
    return urlsafe_b64encode(secrets.token_bytes(32)).decode()


@lru_cache(maxsize=8)
def parse_keys(setting: str) -> tuple[int, dict[int, Fernet]]:
    """(newest version, {version: Fernet}) from a TOKEN_ENCRYPTION_KEYS value."""
    keys: dict[int, Fernet] = {}
    for entry in filter(None, (part.strip() for part in setting.split(","))):
        version, sep, key = entry.partition(":")
        if not sep or not version.isdigit():
            raise EncryptionKeyError(
                "TOKEN_ENCRYPTION_KEYS entries look like '<version>:<key>', e.g. '1:<44 chars>'"
            )
        try:
            keys[int(version)] = Fernet(key.encode())
        except ValueError as exc:
            raise EncryptionKeyError(f"key version {version} is not a Fernet key: {exc}") from None
    if not keys:
        raise EncryptionKeyError("TOKEN_ENCRYPTION_KEYS is empty")
    return max(keys), keys


def _keys(config: Mapping[str, Any] | None = None) -> tuple[int, dict[int, Fernet]]:
    config = config if config is not None else current_app.config
    return parse_keys(config["TOKEN_ENCRYPTION_KEYS"] or "")


def encrypt(plaintext: str, config: Mapping[str, Any] | None = None) -> str:
    newest, keys = _keys(config)
    return f"v{newest}:" + keys[newest].encrypt(plaintext.encode()).decode()


def decrypt(stored: str, config: Mapping[str, Any] | None = None) -> str:
    prefix, sep, token = stored.partition(":")
    if not sep or not prefix.startswith("v") or not prefix[1:].isdigit():
        raise EncryptionKeyError("stored secret has no key version")
    _, keys = _keys(config)
    fernet = keys.get(int(prefix[1:]))
    if fernet is None:
        raise EncryptionKeyError(
            f"stored secret uses key version {prefix[1:]}, not in TOKEN_ENCRYPTION_KEYS"
        )
    try:
        return fernet.decrypt(token.encode()).decode()
    except InvalidToken:
        raise EncryptionKeyError(
            "stored secret does not decrypt (altered, or a different key)"
        ) from None


def key_version(stored: str) -> int | None:
    prefix = stored.partition(":")[0]
    return int(prefix[1:]) if prefix.startswith("v") and prefix[1:].isdigit() else None


def embedded_keys(instance_dir: Path) -> str:
    """The embedded default's key file in instance/, created on first use like the secret key."""
    path = instance_dir / "token_encryption_keys"
    if not path.exists():
        instance_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(f"1:{generate_key()}")
        path.chmod(0o600)
    return path.read_text().strip()


def reencrypt_all() -> dict[str, int]:
    """Re-encrypt every stored secret not yet under the newest key; {table.column: rows}.

    Finds the columns by type (EncryptedText), so a new encrypted column is covered unaided.
    The caller commits.
    """
    from sqlalchemy import Text, select, type_coerce, update

    from app.extensions import db
    from app.models.base import EncryptedText

    newest, _ = _keys()
    moved: dict[str, int] = {}
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if not isinstance(column.type, EncryptedText):
                continue
            raw = type_coerce(column, Text)
            primary = table.primary_key.columns.values()[0]
            rows = db.session.execute(select(primary, raw).where(column.is_not(None))).all()
            count = 0
            for row_id, stored in rows:
                if key_version(stored) == newest:
                    continue
                fresh = encrypt(decrypt(stored))
                db.session.execute(
                    update(table)
                    .where(primary == row_id)
                    .values({column.name: type_coerce(fresh, Text)})
                )
                count += 1
            moved[f"{table.name}.{column.name}"] = count
    return moved
