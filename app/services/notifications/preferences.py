"""Who wants which notification by email, and the signed one-click unsubscribe link.

Every non-security type is on until the person turns it off (settings, or the link in a mail);
security types are always mailed and cannot be turned off.
"""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from app.extensions import db
from app.keys import EMAIL_LINKS, verification_keys
from app.models import NotificationPreference, User
from app.services.exceptions import DomainError
from app.services.notifications.events import MACHINE_ONLY, SECURITY, TYPES

LABELS = {
    "release.completed": "A release finished and every step went well",
    "release.failed": "A release finished with failed steps",
    "connection.expired": "A connection broke",
    "connection.expiring": "A connection expires within 7 days",
    "drift.detected": "A picture was changed on a platform (drift)",
    "schedule.ran": "A scheduled look went out",
    "export.ready": "Your data export is ready to download",
}


def label(type: str) -> str:
    return LABELS.get(type) or type.replace(".", " ").replace("_", " ").capitalize()


# Never mailed (events.MACHINE_ONLY): the images page already shows a picture turning ready as
# its owner watches, and a mail per upload would be noise.
UNTOLD = MACHINE_ONLY


def optional_types() -> list[str]:
    """The types a person may turn off, in the order the settings page lists them."""
    return [t for t in TYPES if t not in SECURITY and t not in UNTOLD]


class InvalidUnsubscribe(DomainError):
    def __init__(self, message: str = "This unsubscribe link is not valid.") -> None:
        super().__init__(message, status=400, code="invalid_link")


def wants_email(user_id: int, type: str) -> bool:
    if type in SECURITY:
        return True
    row = db.session.get(NotificationPreference, (user_id, type))
    return row is None or row.email


def email_choices(user: User) -> dict[str, bool]:
    """Every optional type and whether it is mailed."""
    off = set(
        db.session.scalars(
            select(NotificationPreference.type).where(
                NotificationPreference.user_id == user.id,
                NotificationPreference.email.is_(False),
            )
        )
    )
    return {t: t not in off for t in optional_types()}


def set_email(user: User, type: str, on: bool) -> None:
    """Turn one type's mail on or off; the caller commits."""
    if type in SECURITY:
        raise DomainError("Security notices are always sent by email.", status=422)
    if type not in TYPES:
        raise DomainError("Choose the notifications from the list.", status=422)
    row = db.session.get(NotificationPreference, (user.id, type))
    if row is None:
        row = NotificationPreference(user_id=user.id, type=type)
        db.session.add(row)
    row.email = on


def save_email_choices(user: User, on: set[str]) -> None:
    """Set every optional type from the ticked ones; a security or unknown type is refused."""
    unknown = on - set(optional_types())
    if unknown:
        if unknown & set(SECURITY):
            raise DomainError("Security notices are always sent by email.", status=422)
        raise DomainError("Choose the notifications from the list.", status=422)
    for type in optional_types():
        set_email(user, type, type in on)


def _serializer() -> URLSafeSerializer:
    # No expiry: an unsubscribe link has to keep working in an old mail. It does only this one
    # harmless thing, for one person and one type.
    return URLSafeSerializer(verification_keys(current_app, EMAIL_LINKS), salt="lk-unsubscribe")


def unsubscribe_token(user_id: int, type: str) -> str:
    if type in SECURITY:
        raise ValueError("security notices have no unsubscribe link")
    return _serializer().dumps({"u": user_id, "t": type})


def read_unsubscribe(token: str) -> tuple[User, str]:
    try:
        claims = _serializer().loads(token)
    except BadSignature as exc:
        raise InvalidUnsubscribe() from exc
    if not isinstance(claims, dict):
        raise InvalidUnsubscribe()
    user_id, type = claims.get("u"), claims.get("t")
    if not isinstance(user_id, int) or type not in optional_types():
        raise InvalidUnsubscribe()
    user = db.session.get(User, user_id)
    if user is None:
        raise InvalidUnsubscribe()
    return user, type
