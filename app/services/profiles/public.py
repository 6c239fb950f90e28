"""What anyone may see of a person at /@<handle>: the lookup, the validators, the nearest variant.

No Flask request objects here. A lookup costs two queries: the profile with its user, then the
current images with their variants (one joined query). A missing or private profile and a
handle nobody ever had look the same to callers: both are `None`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import User
from app.models.image import Image, ImageKind, ImageStatus, ImageVariant
from app.models.profile import HandleRedirect, Profile
from app.services.exceptions import DomainError
from app.services.images import presets

# Fields the person can hide from the page (Profile.shown_fields; a missing key means shown).
FIELDS = ("avatar", "banner", "display_name", "bio", "location", "website", "links")
MAX_HANDLE = 30
# Asked sizes beyond this are still answered (with the largest file) but the number is refused
# first: nobody needs a 100,000-pixel avatar, and a bound keeps the parameter honest.
MAX_ASKED_PX = 10_000
# A banner URL that follows the person should keep one shape whatever width is asked: only the
# 3:1 presets (thumbnail, X, Mastodon, Bluesky) answer /banner; 16:9 and 4:1 files stay private
# to their platforms.
BANNER_RATIO = 3.0


class BadSize(DomainError):
    status = 400
    code = "bad_size"


@dataclass
class PublicProfile:
    profile: Profile
    user: User
    etag: str
    last_modified: datetime
    shown: dict[str, bool] = field(default_factory=dict)
    # Loaded by `with_images` only when the page is rendered: a revalidation or a page already
    # rendered for this ETag needs no variant rows.
    avatar: Image | None = None
    banner: Image | None = None

    def show(self, name: str) -> bool:
        return self.shown.get(name, True) is not False


def handle_key(handle: str) -> str | None:
    """The lookup key for a handle as typed in a URL, or None when it cannot be anyone's."""
    # PostgreSQL refuses a NUL in a string outright; no handle holds control characters anyway.
    if not handle or len(handle) > MAX_HANDLE or not handle.isprintable():
        return None
    return handle.lower()


def find_profile(handle: str) -> tuple[Profile, User] | None:
    key = handle_key(handle)
    if key is None:
        return None
    row = db.session.execute(
        select(Profile, User)
        .join(User, User.id == Profile.user_id)
        .where(Profile.handle_key == key, Profile.public.is_(True))
    ).first()
    return (row[0], row[1]) if row else None


LINK_ID = re.compile(r"([1-9][0-9]{0,9})\.([0-9a-f]{12})")


def link_id(user_id: int, url: str) -> str:
    """The id of `/l/<id>`, the counted way out from a public page to one of its links: stable
    while the link's URL stays, whatever its label or place in the list."""
    return f"{user_id}.{hashlib.sha256(url.encode()).hexdigest()[:12]}"


def find_link(link: str) -> tuple[int, str] | None:
    """(owner's user id, URL) for a link id that is still on a public page, else None: an old
    or made-up id never redirects anywhere (no open redirect)."""
    match = LINK_ID.fullmatch(link)
    if match is None:
        return None
    profile = db.session.scalar(
        select(Profile).where(Profile.user_id == int(match[1]), Profile.public.is_(True))
    )
    if profile is None:
        return None
    shown = profile.shown_fields or {}
    urls = [item.get("url") for item in profile.links or [] if isinstance(item, dict)]
    urls = urls if shown.get("links") is not False else []
    if profile.website and shown.get("website") is not False:
        urls.append(profile.website)
    for url in urls:
        if isinstance(url, str) and link_id(profile.user_id, url) == link:
            return profile.user_id, url
    return None


def redirect_target(handle: str, now: datetime | None = None) -> str | None:
    """The new handle an old one points to, while its redirect lasts and the page is public."""
    key = handle_key(handle)
    if key is None:
        return None
    now = now or datetime.now(UTC)
    row = db.session.execute(
        select(Profile.handle)
        .join(HandleRedirect, HandleRedirect.user_id == Profile.user_id)
        .where(
            HandleRedirect.handle_key == key,
            HandleRedirect.expires_at > now,
            Profile.public.is_(True),
            Profile.handle.is_not(None),
        )
    ).first()
    return row[0] if row else None


def current_images(user_id: int) -> tuple[Image | None, Image | None]:
    """The current avatar and banner with their variants; only finished ones have files."""
    images = (
        db.session.scalars(
            select(Image)
            .where(
                Image.user_id == user_id,
                Image.is_current.is_(True),
                Image.status == ImageStatus.READY,
            )
            .options(joinedload(Image.variants))
        )
        .unique()
        .all()
    )
    by_kind = {image.kind: image for image in images}
    return by_kind.get(ImageKind.AVATAR), by_kind.get(ImageKind.BANNER)


def load(handle: str, url_epoch: str = "") -> PublicProfile | None:
    """The public page's profile and ETag in one query, or None (unknown, private, unusable).

    `url_epoch` joins the ETag: storage URLs that expire (S3 presigning) must not be kept by a
    browser past their life just because nothing else changed."""
    key = handle_key(handle)
    if key is None:
        return None
    rows = db.session.execute(
        select(Profile, User, Image.kind, Image.id, Image.revision, Image.updated_at)
        .join(User, User.id == Profile.user_id)
        .outerjoin(
            Image,
            and_(
                Image.user_id == Profile.user_id,
                Image.is_current.is_(True),
                Image.status == ImageStatus.READY,
            ),
        )
        .where(Profile.handle_key == key, Profile.public.is_(True))
    ).all()
    if not rows:
        return None
    profile, user = rows[0][0], rows[0][1]
    shown = dict(profile.shown_fields or {})
    images = sorted(
        (kind.value, image_id, revision, updated_at)
        for _, _, kind, image_id, revision, updated_at in rows
        if image_id is not None and shown.get(kind.value) is not False
    )
    stamps = [profile.updated_at, *(image[3] for image in images)]
    last_modified = max(stamps).astimezone(UTC).replace(microsecond=0)
    parts = [
        str(profile.user_id),
        profile.updated_at.isoformat(),
        # What the page shows, too: SQLite's now() has whole seconds, so two edits within one
        # second would otherwise share a validator (and a rendered page).
        _content_digest(profile),
        *(f"{kind}:{image_id}:{revision}" for kind, image_id, revision, _ in images),
        url_epoch,
    ]
    etag = hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
    return PublicProfile(profile, user, etag, last_modified, shown)


def _content_digest(profile: Profile) -> str:
    shown = {
        name: getattr(profile, name)
        for name in ("handle", "display_name", "bio", "website", "location", "links")
    }
    shown.update(shown_fields=profile.shown_fields or {}, indexable=profile.indexable)
    encoded = json.dumps(shown, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


def with_images(entry: PublicProfile) -> PublicProfile:
    """Fill in the current pictures the page may show, with their files."""
    avatar, banner = current_images(entry.user.id)
    entry.avatar = avatar if entry.show("avatar") else None
    entry.banner = banner if entry.show("banner") else None
    return entry


def parse_size(value: str | None, name: str) -> int:
    if value is None or value == "":
        raise BadSize(f"Add ?{name}=<pixels>, a whole number from 1 to {MAX_ASKED_PX}.")
    if not value.isascii() or not value.isdigit() or len(value) > 6:
        raise BadSize(f"{name} must be a whole number of pixels from 1 to {MAX_ASKED_PX}.")
    size = int(value)
    if not 1 <= size <= MAX_ASKED_PX:
        raise BadSize(f"{name} must be a whole number of pixels from 1 to {MAX_ASKED_PX}.")
    return size


def _candidates(image: Image) -> list[ImageVariant]:
    chosen = []
    for variant in image.variants:
        try:
            preset = presets.get(variant.preset_key)
        except presets.UnknownPreset:
            continue  # a file from a retired preset: nobody asks for its size any more
        if preset.kind != image.kind.value:
            continue
        if image.kind == ImageKind.BANNER and abs(preset.ratio - BANNER_RATIO) > 0.01:
            continue
        chosen.append(variant)
    return chosen


def nearest(image: Image, width: int) -> ImageVariant | None:
    """The smallest file at least `width` pixels wide, else the largest there is."""
    candidates = sorted(_candidates(image), key=lambda v: (v.width, v.preset_key))
    if not candidates:
        return None
    return next((v for v in candidates if v.width >= width), candidates[-1])


def widths(image: Image) -> list[ImageVariant]:
    """One file per distinct width, smallest first (for srcset)."""
    seen: dict[int, ImageVariant] = {}
    for variant in sorted(_candidates(image), key=lambda v: (v.width, v.preset_key)):
        seen.setdefault(variant.width, variant)
    return list(seen.values())
