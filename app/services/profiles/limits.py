"""How the profile's text fits each platform: every limit is capability data in the adapters.

Bluesky counts grapheme clusters (what a reader sees as one character: "👍🏽" or "é" written as
e + accent). The `regex` package is not installed here, so `graphemes` approximates Unicode's
segmentation rules (UAX #29) with unicodedata: combining marks, variation selectors, emoji
modifiers, tags and zero-width-joiner sequences join the character before them, and regional
indicators pair up into flags. Rare scripts' conjuncts (Indic virama clusters) and decomposed
Hangul syllables may count as more than one, which errs on the side of "too long".
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from app.models import Profile
from app.services.platforms import all_adapters
from app.services.platforms.base import TextLimit

TEXT_FIELDS = ("display_name", "bio")
ZWJ = "\u200d"


def _joins_previous(ch: str) -> bool:
    code = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or ch == ZWJ
        or 0xFE00 <= code <= 0xFE0F  # variation selectors (emoji vs text style)
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF  # skin-tone modifiers
        or 0xE0020 <= code <= 0xE007F  # tag characters (subdivision flags)
        or 0x1160 <= code <= 0x11FF  # Hangul vowel and final jamo
    )


def _regional_indicator(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def split_graphemes(text: str) -> list[str]:
    """`text` as its grapheme clusters, in order."""
    clusters: list[str] = []
    previous = ""
    indicators = 0  # regional indicators in the current run: every second one closes a flag
    for ch in text:
        if previous and (
            _joins_previous(ch)
            or previous == ZWJ
            or (previous == "\r" and ch == "\n")
            or (_regional_indicator(ch) and indicators % 2 == 1)
        ):
            joined = True
            clusters[-1] += ch
        else:
            joined = False
            clusters.append(ch)
        indicators = indicators + 1 if _regional_indicator(ch) else 0
        if joined and not _regional_indicator(ch):
            indicators = 0
        previous = ch
    return clusters


def graphemes(text: str) -> int:
    return len(split_graphemes(text))


def count(text: str, unit: str) -> int:
    return graphemes(text) if unit == "graphemes" else len(text)


@dataclass(frozen=True)
class FieldLimit:
    field: str
    limit: int
    unit: str
    used: int

    @property
    def over(self) -> bool:
        return self.used > self.limit


@dataclass(frozen=True)
class PlatformLimits:
    platform: str
    label: str
    fields: dict[str, FieldLimit]


def platform_limits(profile: Profile, text: dict[str, str] | None = None) -> list[PlatformLimits]:
    """Per platform with text limits, each field's limit and the current text's length in the
    platform's unit. `text` overrides the stored values (what the person is typing now)."""
    values = {name: getattr(profile, name) or "" for name in TEXT_FIELDS}
    values.update({k: v for k, v in (text or {}).items() if k in TEXT_FIELDS})
    result = []
    for adapter in all_adapters():
        limits: dict[str, TextLimit] = adapter.capabilities.text
        fields = {
            name: FieldLimit(name, limit.limit, limit.unit, count(values[name], limit.unit))
            for name, limit in limits.items()
            if name in values
        }
        if fields:
            result.append(PlatformLimits(adapter.key, adapter.label, fields))
    return result
