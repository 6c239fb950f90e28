"""Storage keys for image files: per owner and unguessable.

A key is an HMAC of (owner id, SHA-256 of the bytes) under its own key derived from SECRET_KEY
(app.keys), so:
the same person uploading the same bytes twice shares one object (dedupe within one owner),
two people never share an object (deleting one person's image can never remove another's file),
and nobody can compute the key for bytes they hold, so no URL answers "did someone else upload
this?".
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app

from app.infra.storage import validate_key
from app.keys import STORAGE_KEYS, derive_key

# Where image files live; the orphan sweep lists exactly these. drift/: thumbnails of what a
# platform shows instead of our picture (app/services/sync/drift.py).
PREFIXES = ("originals/", "variants/", "previews/", "drift/")


def owner_key(prefix: str, user_id: int, sha256: str, ext: str) -> str:
    """The key for bytes with digest `sha256` stored for `user_id` under `prefix`."""
    secret = derive_key(current_app.config, STORAGE_KEYS)
    digest = hmac.new(secret, f"{user_id}:{sha256}".encode(), hashlib.sha256).hexdigest()
    # a two-character fan-out keeps local directories small
    return validate_key(f"{prefix.strip('/')}/{digest[:2]}/{digest}.{ext.lstrip('.').lower()}")


def owner_key_for(prefix: str, user_id: int, data: bytes, ext: str) -> str:
    return owner_key(prefix, user_id, hashlib.sha256(data).hexdigest(), ext)
