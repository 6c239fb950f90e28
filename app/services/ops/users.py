"""The people using this site, as the admin pages see them: counts, a searchable list with how
each signs in and which platforms they connected, and granting or revoking the admin role.

The list never reads images: admins see accounts, not anyone's pictures. Callers commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select, union

from app.extensions import db
from app.models import (
    AccountStatus,
    ApiToken,
    OAuthIdentity,
    PlatformAccount,
    Role,
    User,
    UserSession,
)
from app.services.accounts import audit
from app.services.exceptions import Conflict, DomainError
from app.services.ops.paging import Page, clean_text, paginate
from app.services.platforms import REGISTRY

ACTIVE_WINDOW = timedelta(days=7)
SEARCH_MAX = 200  # longer text cannot be part of an email address or a name
PROVIDER_LABELS = {"google": "Google", "github": "GitHub", "facebook": "Facebook"}


@dataclass(frozen=True)
class Counts:
    total: int
    verified: int
    active: int  # signed in (a browser seen) or used an API token in the last 7 days
    admins: int


@dataclass(frozen=True)
class ConnectedPlatform:
    label: str
    handle: str
    status: AccountStatus


@dataclass(frozen=True)
class UserRow:
    user: User
    has_password: bool
    providers: list[str]
    platforms: list[ConnectedPlatform]


def counts(now: datetime | None = None) -> Counts:
    since = (now or datetime.now(UTC)) - ACTIVE_WINDOW
    seen = union(
        select(UserSession.user_id).where(UserSession.last_seen_at >= since),
        select(ApiToken.user_id).where(ApiToken.last_used_at >= since),
    ).subquery()
    total, verified, admins = db.session.execute(
        select(
            func.count(),
            func.count(User.email_verified_at),
            func.sum(case((User.role == Role.ADMIN, 1), else_=0)),
        ).select_from(User)
    ).one()
    active = db.session.scalar(select(func.count()).select_from(seen))
    return Counts(int(total), int(verified), int(active or 0), int(admins or 0))


def search(q: str = "", page: int = 1) -> Page[UserRow]:
    """Users whose email or name contains `q` (any case), newest first, a page at a time."""
    query = select(User).order_by(User.created_at.desc(), User.id.desc())
    if q := clean_text(q, SEARCH_MAX):
        pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        pattern += "%"
        query = query.where(
            or_(
                User.email.like(pattern, escape="\\"),
                func.lower(User.name).like(pattern, escape="\\"),
            )
        )
    return paginate(query, page, _rows)


def _rows(rows: Sequence[Any]) -> list[UserRow]:
    users = [row[0] for row in rows]
    ids = [user.id for user in users]
    providers: dict[int, list[str]] = defaultdict(list)
    platforms: dict[int, list[ConnectedPlatform]] = defaultdict(list)
    if ids:
        for identity in db.session.scalars(
            select(OAuthIdentity)
            .where(OAuthIdentity.user_id.in_(ids), OAuthIdentity.linked_at.is_not(None))
            .order_by(OAuthIdentity.provider)
        ):
            label = PROVIDER_LABELS.get(identity.provider, identity.provider.title())
            providers[identity.user_id].append(label)
        for account in db.session.scalars(
            select(PlatformAccount)
            .where(PlatformAccount.user_id.in_(ids))
            .order_by(PlatformAccount.platform, PlatformAccount.id)
        ):
            known = REGISTRY.get(account.platform)
            label = known.label if known else account.platform
            platforms[account.user_id].append(
                ConnectedPlatform(label, account.handle, account.status)
            )
    return [
        UserRow(user, user.password_hash is not None, providers[user.id], platforms[user.id])
        for user in users
    ]


def make_admin(user: User, by: User | None, *, ip: str | None = None) -> bool:
    """Give `user` the admin role; False if they had it already (nothing recorded)."""
    if user.is_admin:
        return False
    user.role = Role.ADMIN
    audit.record("admin_granted", user, ip, by=_who(by))
    return True


def revoke_admin(user: User, by: User | None, *, ip: str | None = None) -> bool:
    """Take the admin role from `user`; False if they did not have it.

    Refused for yourself (another admin must do it, so nobody locks themselves out by a slip)
    and for the last admin (the site would have nobody to run it).
    """
    if not user.is_admin:
        return False
    if by is not None and by.id == user.id:
        raise DomainError(
            "You cannot revoke your own admin role. Ask another admin to do it.",
            status=422,
            code="own_admin_role",
        )
    # Lock the admins' rows (Postgres), so two admins revoking each other at the same moment
    # cannot both pass the check and leave the site with none.
    admins = db.session.scalars(select(User.id).where(User.role == Role.ADMIN).with_for_update())
    if list(admins) == [user.id]:
        raise Conflict(f"{user.email} is the last admin; make someone else an admin first.")
    user.role = Role.USER
    audit.record("admin_revoked", user, ip, by=_who(by))
    return True


def delete_user(user: User, by: User, *, ip: str | None = None) -> None:
    """An admin deletes someone's account (accounts/deletion.py does the work).

    Not their own (the settings page asks them to confirm as the person).
    """
    if by.id == user.id:
        raise DomainError(
            "Delete your own account from Settings → Delete my account.",
            status=422,
            code="own_account",
        )
    from app.services.accounts import deletion  # (it refuses the last admin)

    deletion.delete_account(user, by, ip=ip)


def _who(by: User | None) -> str:
    return by.email if by is not None else "command line"
