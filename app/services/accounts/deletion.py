"""Deleting an account: everything of the person goes, except what the audit log must keep.

`delete_account(user, actor)` is the one entry point (the person's settings page, the admin
users page). In order:

1. Platform tokens are given back where the platform allows it, best effort: each call waits at
   most ACCOUNT_DELETION_REVOKE_TIMEOUT seconds and a failure (platform down) is only noted in
   the audit entry, never a reason to keep the account.
2. The keys of every stored file of the person are collected from the rows (STORED_FILE_FINDERS),
   then every row of the person is deleted in the caller's transaction: the users row and every
   row that hangs off it through a foreign key, found by walking the tables' foreign keys (so a
   table added later is covered without being listed here, on SQLite too, which does not
   enforce ON DELETE CASCADE).
3. The audit rows about the person lose the link (user_id NULL) and get `subject_hash`, a keyed
   hash of their email address; any address, handle or name of theirs in `details` is replaced
   by the hash of that identifier. One "account_deleted" entry says who did it.
4. After the commit: the files are deleted (a failure leaves an orphan that the periodic sweep
   removes, since no row refers to it any more), the per-process caches forget the person
   (`on_deleted`), and a confirmation mail goes to the address, sent directly: an outbox row
   would need the users row, and keeping the address to retry later is what deletion must not do.

The handle is free again at once (its redirects go too): keeping it reserved would mean keeping
the handle, which is the person's identifier.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, Table, and_, delete, or_, select, update
from sqlalchemy.types import Text

from app.extensions import db
from app.infra import row_security
from app.infra.http import capped_timeouts
from app.jobs import after_commit
from app.keys import AUDIT_SUBJECTS, derive_key
from app.models import AuditLog, Image, ImageVariant, PlatformAccount, Profile, Role, User
from app.models.platform import AccountSlot
from app.models.profile import HandleRedirect
from app.services.accounts import audit, export
from app.services.exceptions import Conflict
from app.services.images.library import lock_owner, storage
from app.services.notifications import outbox
from app.services.platforms import REGISTRY

log = logging.getLogger(__name__)

HASH_PREFIX = "hmac:"
# Details keys that always name the person in their own audit rows (earlier addresses too).
IDENTIFYING_KEYS = {"email", "old_email", "new_email", "handle"}


def subject_hash(identifier: str) -> str:
    """The audit log's stand-in for an email address, handle or name: HMAC-SHA256 under a key of
    its own, so the same person's rows can be matched by someone holding their address and the
    install's secret, and by nobody else."""
    key = derive_key(current_app, AUDIT_SUBJECTS)
    return hmac.new(key, identifier.strip().lower().encode(), hashlib.sha256).hexdigest()


# ---- stored files ---------------------------------------------------------------------------

FileFinder = Callable[[int], Iterable[str]]


def image_files(user_id: int) -> Iterable[str]:
    """Originals, previews and variants of the person's images."""
    yield from db.session.scalars(select(Image.original_key).where(Image.user_id == user_id))
    yield from db.session.scalars(
        select(Image.preview_key).where(Image.user_id == user_id, Image.preview_key.is_not(None))
    )
    yield from db.session.scalars(
        select(ImageVariant.storage_key)
        .join(Image, Image.id == ImageVariant.image_id)
        .where(Image.user_id == user_id)
    )


def drift_thumbnails(user_id: int) -> Iterable[str]:
    """Thumbnails of what a platform showed instead of our picture (the drift watch)."""
    yield from db.session.scalars(
        select(AccountSlot.live_key)
        .join(PlatformAccount, PlatformAccount.id == AccountSlot.account_id)
        .where(PlatformAccount.user_id == user_id, AccountSlot.live_key.is_not(None))
    )


# Every kind of stored file a person can have: each finder returns the keys of `user_id`'s
# files, read from rows that are about to be deleted. A feature that stores files adds its
# finder here (one line).
STORED_FILE_FINDERS: list[FileFinder] = [image_files, drift_thumbnails, export.stored_keys]

# Called with the user id once the deletion is committed: per-process state to forget (the
# public page's caches register here).
_AFTER_DELETE: list[Callable[[int], None]] = []


def on_deleted(func: Callable[[int], None]) -> Callable[[int], None]:
    """Register `func(user_id)` to run after every committed account deletion."""
    if func not in _AFTER_DELETE:
        _AFTER_DELETE.append(func)
    return func


# ---- the orchestration ----------------------------------------------------------------------


@dataclass
class Outcome:
    subject_hash: str
    files: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)  # platforms that took their token back
    revoke_failed: list[str] = field(default_factory=list)  # platforms we could not reach


def delete_account(user: User, actor: User | None, *, ip: str | None = None) -> Outcome:
    """Delete `user` and everything of theirs (see the module docstring); the caller commits.

    `actor` is the person deleting: the user themselves, an admin, or None (command line).
    Refused (Conflict) for the last admin: the site would have nobody to run it.
    """
    # Past row-level security (logged): the admin check counts everyone's roles, and the audit
    # entries it rewrites or writes may be someone else's or nobody's. Flushed inside, so no
    # write is left for the commit outside the bypass.
    with row_security.bypass("account deletion"):
        outcome = _delete_account(user, actor, ip)
        db.session.flush()
    return outcome


def _delete_account(user: User, actor: User | None, ip: str | None) -> Outcome:
    _refuse_last_admin(user, lock=False)  # before any platform is told
    user_id, email, name = user.id, user.email, user.name
    by_self = actor is not None and actor.id == user_id
    actor_id = None if actor is None or by_self else actor.id
    identifiers = _identifiers(user)
    outcome = Outcome(subject_hash(email))
    _revoke_platforms(user_id, outcome)

    _refuse_last_admin(user, lock=True)  # again, now holding the admins' rows
    lock_owner(user_id)  # no upload or file-writing job of the person runs past this point
    outcome.files = sorted({key for finder in STORED_FILE_FINDERS for key in finder(user_id)})
    _scrub_audit(user_id, outcome.subject_hash, identifiers)
    db.session.flush()
    _delete_rows(user_id)
    entry = audit.record(
        "account_deleted",
        None,
        ip,
        by="self" if by_self else (actor_id if actor_id is not None else "command line"),
        files=len(outcome.files),
        platforms_revoked=outcome.revoked,
        platforms_revoke_failed=outcome.revoke_failed,
    )
    entry.subject_hash = outcome.subject_hash
    # The session still holds the person's objects; none of them exist any more.
    for obj in list(db.session.identity_map.values()):
        if getattr(obj, "user_id", None) == user_id or obj is user:
            db.session.expunge(obj)

    after_commit(_delete_files, outcome.files)
    after_commit(_forget, user_id)
    after_commit(_send_goodbye, email, name, by_self)
    log.info(
        "account %s deleted (%d file(s), %d revoke failure(s))",
        user_id,
        len(outcome.files),
        len(outcome.revoke_failed),
        extra={"event": "account_deleted", "user_id": user_id},
    )
    return outcome


def _refuse_last_admin(user: User, *, lock: bool) -> None:
    if user.role is not Role.ADMIN:
        return
    query = select(User.id).where(User.role == Role.ADMIN)
    # Locked (PostgreSQL), so two admins deleting each other cannot both pass the check.
    if list(db.session.scalars(query.with_for_update() if lock else query)) == [user.id]:
        raise Conflict(
            f"{user.email} is the last admin; make someone else an admin first.",
            code="last_admin",
        )


def _identifiers(user: User) -> set[str]:
    """Every string that names the person: addresses (current and earlier), handles, name."""
    found = {user.email}
    profile = db.session.get(Profile, user.id)
    if profile is not None:
        found.update(filter(None, (profile.handle, profile.display_name)))
    found.update(
        db.session.scalars(
            select(HandleRedirect.handle_key).where(HandleRedirect.user_id == user.id)
        )
    )
    if user.name and len(user.name.strip()) >= 3:
        found.add(user.name)
    for details in db.session.scalars(select(AuditLog.details).where(AuditLog.user_id == user.id)):
        for key in IDENTIFYING_KEYS:
            value = (details or {}).get(key)
            if isinstance(value, str) and value:
                found.add(value)
    return {value.strip() for value in found if value and value.strip()}


def _revoke_platforms(user_id: int, outcome: Outcome) -> None:
    accounts = db.session.scalars(
        select(PlatformAccount).where(
            PlatformAccount.user_id == user_id,
            or_(
                PlatformAccount.access_token.is_not(None),
                PlatformAccount.refresh_token.is_not(None),
            ),
        )
    ).all()
    with capped_timeouts(current_app.config["ACCOUNT_DELETION_REVOKE_TIMEOUT"]):
        for account in accounts:
            platform = REGISTRY.get(account.platform)
            if platform is None or not platform.capabilities.revocable:
                continue
            try:
                platform.revoke(account)
            except Exception as exc:  # down, slow or refusing: the account goes all the same
                log.warning("revoking %s account %s failed: %s", account.platform, account.id, exc)
                outcome.revoke_failed.append(account.platform)
            else:
                outcome.revoked.append(account.platform)


# ---- rows -------------------------------------------------------------------------------------


def _owned_condition(
    table: Table, user_id: int, seen: tuple[str, ...] = ()
) -> ColumnElement[bool] | None:
    """Rows of `table` that go with the person: the users row itself, or a row whose foreign key
    (one that cascades) points at such a row. None: the table holds nothing of theirs."""
    users = User.__table__
    if table is users:
        return users.c.id == user_id
    conditions = []
    for fk in table.foreign_keys:
        parent = fk.column.table
        if parent is table or parent.name in seen or (fk.ondelete or "").upper() == "SET NULL":
            continue
        parent_condition = _owned_condition(parent, user_id, (*seen, table.name))
        if parent_condition is None:
            continue
        if parent is users:
            conditions.append(fk.parent == user_id)
        else:
            conditions.append(fk.parent.in_(select(fk.column).where(parent_condition)))
    return or_(*conditions) if conditions else None


def _delete_rows(user_id: int) -> None:
    """Every row of the person, children before parents, in the caller's transaction."""
    tables = db.metadata.sorted_tables  # parents first
    owned = {t.name: c for t in tables if (c := _owned_condition(t, user_id)) is not None}
    # References that survive their target (SET NULL) are cleared first, as the database would.
    for table in tables:
        for fk in table.foreign_keys:
            parent = fk.column.table
            if (fk.ondelete or "").upper() != "SET NULL" or parent.name not in owned:
                continue
            targets = select(fk.column).where(owned[parent.name])
            db.session.execute(
                update(table)
                .where(and_(fk.parent.is_not(None), fk.parent.in_(targets)))
                .values({fk.parent.name: None})
                .execution_options(synchronize_session=False)
            )
    for table in reversed(tables):
        if table.name in owned:
            db.session.execute(
                delete(table).where(owned[table.name]).execution_options(synchronize_session=False)
            )


# ---- the audit trail --------------------------------------------------------------------------


def _scrub_audit(user_id: int, subject: str, identifiers: set[str]) -> None:
    """Unlink the person's audit rows and hash every identifier of theirs in any row's details."""
    own = db.session.scalars(select(AuditLog).where(AuditLog.user_id == user_id)).all()
    for entry in own:
        entry.user_id = None
        entry.subject_hash = subject
        entry.details = _hashed(entry.details or {}, identifiers, own_row=True)
    # Other people's rows can name them too (an admin's address in "admin_granted" by=...).
    addresses = {value for value in identifiers if "@" in value}
    if not addresses:
        return
    spellings = set()
    for address in addresses:
        spellings.update({address, json.dumps(address)[1:-1]})
    text = AuditLog.details.cast(Text)
    mention = or_(*(text.contains(spelling) for spelling in spellings))
    for entry in db.session.scalars(
        select(AuditLog).where(AuditLog.user_id.is_not(None), AuditLog.user_id != user_id, mention)
    ):
        entry.details = _hashed(entry.details or {}, addresses, own_row=False)


def _hashed(value: Any, identifiers: set[str], *, own_row: bool, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _hashed(v, identifiers, own_row=own_row, key=k) for k, v in value.items()}
    if isinstance(value, list):
        return [_hashed(v, identifiers, own_row=own_row) for v in value]
    if not isinstance(value, str) or not value:
        return value
    if own_row and key in IDENTIFYING_KEYS:
        return HASH_PREFIX + subject_hash(value)
    lowered = value.lower()
    if any(identifier.lower() in lowered for identifier in identifiers):
        return HASH_PREFIX + subject_hash(value)
    return value


# ---- after the commit -------------------------------------------------------------------------


def _delete_files(keys: list[str]) -> None:
    store = storage()
    for key in keys:
        try:
            store.delete(key)
        except Exception:  # the sweep removes it later: no row refers to it any more
            log.exception("could not delete stored file %s of a deleted account", key)


def _forget(user_id: int) -> None:
    for forget in _AFTER_DELETE:
        try:
            forget(user_id)
        except Exception:
            log.exception("forgetting deleted account %s in %s failed", user_id, forget)


def _send_goodbye(email: str, name: str, by_self: bool) -> None:
    context = {"subject": "Your Linkarooie account is deleted", "name": name, "by_self": by_self}
    try:
        outbox.send_unkept(email, "account_deleted", context)
    except Exception:
        # Not retried: a retry would need the address stored, which deletion must not do.
        log.exception("the deletion confirmation mail could not be sent")
