"""Work that runs once the outer transaction commits, and is dropped with what it belonged to.

Each callback is tied to the innermost transaction open when it was registered. Rolling back a
savepoint (`begin_nested`) drops only the callbacks registered inside it (and inside savepoints
nested in it); releasing a savepoint hands its callbacks to the enclosing transaction. Nothing
runs until the outermost transaction commits: SQLAlchemy reports a savepoint release as a
commit too, which is why this tracks transactions rather than reacting to every commit event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from app.extensions import db

log = logging.getLogger(__name__)

_PENDING = "after_commit_work"
_COMMITTING = "after_commit_committing"


def after_commit(callback: Callable[..., Any], *args: Any, session: Session | None = None) -> None:
    """Run `callback(*args)` after the outermost transaction of `session` commits."""
    session = session or db.session()
    # Begin the transaction now if nothing has yet, so a rollback before any query drops it too.
    owner = session.get_nested_transaction() or session.get_transaction() or session.begin()
    session.info.setdefault(_PENDING, []).append((owner, callback, args))


def pending(session: Session | None = None) -> list[tuple[Callable[..., Any], tuple]]:
    """What would run on commit now, in order (for tests and diagnostics)."""
    session = session or db.session()
    return [(callback, args) for _, callback, args in session.info.get(_PENDING, [])]


@event.listens_for(db.session, "after_commit")
def _committing(session: Session) -> None:
    # Fired for the outer commit and for each savepoint release, just before its
    # after_transaction_end: the flag tells that transaction's end it committed.
    session.info[_COMMITTING] = True


@event.listens_for(db.session, "after_transaction_end")
def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    committed = session.info.pop(_COMMITTING, False)
    work = session.info.get(_PENDING)
    if not work:
        return
    if transaction.parent is not None:
        if not committed:
            session.info[_PENDING] = [item for item in work if not _inside(item[0], transaction)]
        return  # a released savepoint's work waits for the outer commit
    session.info.pop(_PENDING, None)
    if not committed:
        return
    for _, callback, args in work:
        try:
            callback(*args)
        except Exception:  # the data is committed; one failed follow-up must not stop the rest
            log.exception("after-commit work %s failed", getattr(callback, "__name__", callback))


def _inside(owner: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while owner is not None:
        if owner is ended:
            return True
        owner = owner.parent
    return False
