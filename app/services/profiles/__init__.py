"""A person's profile: the text and links they show, the handle of their public page, and how
that text fits each platform's limits. No Flask request objects; callers commit."""

from app.services.profiles.editing import (
    FIELDS,
    HANDLE_HOLD,
    RESERVED_HANDLES,
    ProfileInvalid,
    add_link,
    get_or_create,
    move_link,
    remove_link,
    update,
)
from app.services.profiles.limits import FieldLimit, PlatformLimits, count, platform_limits

__all__ = [
    "FIELDS",
    "HANDLE_HOLD",
    "RESERVED_HANDLES",
    "FieldLimit",
    "PlatformLimits",
    "ProfileInvalid",
    "add_link",
    "count",
    "get_or_create",
    "move_link",
    "platform_limits",
    "remove_link",
    "update",
]
