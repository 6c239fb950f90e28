"""Output presets: every size the pipeline produces (platforms.md §13 plus UI thumbnails).

Pure data, no Flask. Pixel sizes and byte caps are copied from the §13 table; the caps are hard
ceilings that the encoder in `pipeline.py` must stay under.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import gcd
from typing import Any, Literal

from app.services.exceptions import NotFound

Kind = Literal["avatar", "banner"]
Mask = Literal["circle", "rounded", "square", "rect"]


@dataclass(frozen=True)
class Preset:
    key: str
    kind: Kind
    platform: str
    width: int
    height: int
    max_bytes: int
    formats: tuple[str, ...]  # lowercase, first = preferred
    mask: Mask
    label: str
    safe_zone: tuple[int, int] | None = None  # centred (w, h) that every screen shows
    avatar_overlap: tuple[int, int, int] | None = None  # (x, y, diameter) the avatar hides
    manual: bool = False  # no API: the user downloads the file and uploads it by hand
    fixed: bool = True  # never shrink below width x height to meet max_bytes
    # the smaller size the platform documents for files that do not fit at full size
    fallback: tuple[int, int] | None = None

    @property
    def aspect(self) -> str:
        """Human aspect label such as "3:1" or "16:9" (1640x924 is reported as 16:9)."""
        ratio = self.width / self.height
        for q in range(1, 11):
            p = round(ratio * q)
            if p and abs(p / q - ratio) / ratio < 0.01:
                return f"{p}:{q}"
        g = gcd(self.width, self.height)
        return f"{self.width // g}:{self.height // g}"

    @property
    def ratio(self) -> float:
        return self.width / self.height


class UnknownPreset(NotFound, KeyError):
    """Raised by `get`; a KeyError for plain callers, a 404 DomainError for routes."""

    def __str__(self) -> str:
        return self.message


def _avatar(
    key: str,
    platform: str,
    size: int,
    max_bytes: int,
    formats: tuple[str, ...],
    mask: Mask,
    label: str,
) -> Preset:
    return Preset(
        key,
        "avatar",
        platform,
        size,
        size,
        max_bytes,
        formats,
        mask,
        label,
        manual=key.startswith("manual_"),
    )


def _banner(
    key: str,
    platform: str,
    width: int,
    height: int,
    max_bytes: int,
    label: str,
    safe_zone: tuple[int, int] | None = None,
    avatar_overlap: tuple[int, int, int] | None = None,
    fallback: tuple[int, int] | None = None,
) -> Preset:
    return Preset(
        key,
        "banner",
        platform,
        width,
        height,
        max_bytes,
        ("jpeg",),
        "rect",
        label,
        safe_zone=safe_zone,
        avatar_overlap=avatar_overlap,
        manual=key.startswith("manual_"),
        fallback=fallback,
    )


JPEG, JPEG_PNG, PNG_JPEG, PNG = ("jpeg",), ("jpeg", "png"), ("png", "jpeg"), ("png",)

# Safe zones follow the §13 cropping rules. Avatar overlaps are approximate UI-preview hints
# (platforms.md §2.4, §5.4, §6.4, §7 say where the avatar sits, not its exact pixels).
PRESETS: tuple[Preset, ...] = (
    _avatar("x_avatar", "x", 400, 690_000, JPEG_PNG, "circle", "X avatar"),
    _banner(
        "x_banner",
        "x",
        1500,
        500,
        2_000_000,
        "X banner",
        safe_zone=(1500, 380),
        avatar_overlap=(40, 333, 334),
    ),
    _avatar("mastodon_avatar", "mastodon", 400, 2_000_000, JPEG_PNG, "rounded", "Mastodon avatar"),
    _banner(
        "mastodon_header",
        "mastodon",
        1500,
        500,
        2_000_000,
        "Mastodon header",
        safe_zone=(1500, 380),
        avatar_overlap=(40, 380, 240),
    ),
    _avatar("bluesky_avatar", "bluesky", 1000, 976_000, JPEG, "circle", "Bluesky avatar"),
    _banner(
        "bluesky_banner",
        "bluesky",
        3000,
        1000,
        976_000,
        "Bluesky banner",
        safe_zone=(3000, 760),
        avatar_overlap=(60, 700, 450),
        fallback=(1500, 500),
    ),
    _avatar("gravatar_avatar", "gravatar", 1024, 1_000_000, JPEG_PNG, "square", "Gravatar"),
    _banner(
        "youtube_banner", "youtube", 2560, 1440, 6_000_000, "YouTube banner", safe_zone=(1546, 423)
    ),
    _avatar("fb_page_picture", "facebook", 720, 1_000_000, JPEG, "circle", "Facebook Page picture"),
    _banner(
        "fb_page_cover",
        "facebook",
        1640,
        924,
        1_000_000,
        "Facebook Page cover",
        safe_zone=(1640, 624),
    ),
    _avatar(
        "manual_facebook_avatar",
        "facebook",
        720,
        1_000_000,
        JPEG,
        "circle",
        "Facebook profile picture",
    ),
    _banner(
        "manual_facebook_cover",
        "facebook",
        1640,
        924,
        1_000_000,
        "Facebook cover photo",
        safe_zone=(1640, 624),
    ),
    _avatar(
        "manual_instagram_avatar",
        "instagram",
        1080,
        1_000_000,
        JPEG,
        "circle",
        "Instagram / Threads picture",
    ),
    _avatar("manual_linkedin_avatar", "linkedin", 400, 8_000_000, JPEG, "circle", "LinkedIn photo"),
    _banner(
        "manual_linkedin_banner",
        "linkedin",
        1584,
        396,
        8_000_000,
        "LinkedIn background",
        safe_zone=(1584, 396),
        avatar_overlap=(48, 200, 300),
    ),
    _avatar("manual_github_avatar", "github", 500, 1_000_000, PNG_JPEG, "circle", "GitHub avatar"),
    _avatar(
        "manual_youtube_avatar",
        "youtube",
        800,
        4_000_000,
        JPEG,
        "circle",
        "YouTube channel picture",
    ),
    _avatar("manual_discord_avatar", "discord", 512, 8_000_000, PNG, "circle", "Discord avatar"),
    _banner("manual_discord_banner", "discord", 680, 240, 8_000_000, "Discord banner"),
    _avatar(
        "manual_twitch_avatar",
        "twitch",
        256,
        10_000_000,
        PNG_JPEG,
        "circle",
        "Twitch profile picture",
    ),
    _banner("manual_twitch_banner", "twitch", 1200, 480, 10_000_000, "Twitch banner"),
    # UI thumbnails (not pushed anywhere)
    _avatar("thumb_avatar_64", "linkarooie", 64, 50_000, JPEG_PNG, "square", "Thumbnail 64"),
    _avatar("thumb_avatar_128", "linkarooie", 128, 100_000, JPEG_PNG, "square", "Thumbnail 128"),
    _avatar("thumb_avatar_256", "linkarooie", 256, 250_000, JPEG_PNG, "square", "Thumbnail 256"),
    _banner("thumb_banner_600", "linkarooie", 600, 200, 250_000, "Banner thumbnail"),
)

_BY_KEY = {p.key: p for p in PRESETS}


def get(key: str) -> Preset:
    try:
        return _BY_KEY[key]
    except KeyError:
        raise UnknownPreset(f"Unknown output preset: {key!r}") from None


def for_kind(kind: str) -> tuple[Preset, ...]:
    return tuple(p for p in PRESETS if p.kind == kind)


def as_dict(preset: Preset) -> dict[str, Any]:
    """JSON-ready description (tuples become lists)."""
    return {
        "key": preset.key,
        "kind": preset.kind,
        "platform": preset.platform,
        "label": preset.label,
        "width": preset.width,
        "height": preset.height,
        "aspect": preset.aspect,
        "max_bytes": preset.max_bytes,
        "formats": list(preset.formats),
        "mask": preset.mask,
        "safe_zone": list(preset.safe_zone) if preset.safe_zone else None,
        "avatar_overlap": list(preset.avatar_overlap) if preset.avatar_overlap else None,
        "manual": preset.manual,
    }
