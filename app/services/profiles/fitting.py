"""What a release's profile text becomes on one platform: each field cut to that platform's
limit, in its unit. The /sync preview and the engine both call `fit`, so what the person sees
before syncing is exactly what is pushed.

Empty fields are left out (the platform keeps what it has): a person who never wrote a bio
should not have their Bluesky bio wiped by syncing their avatar's profile text.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from app.models import Profile
from app.services.platforms.base import Capabilities, TextLimit
from app.services.profiles.limits import graphemes, split_graphemes

SNAPSHOT_FIELDS = ("display_name", "bio", "website", "location", "links")
ELLIPSIS = "…"
WEBSITE_LABEL = "Website"


def snapshot(profile: Profile | None) -> dict[str, Any]:
    """The text a release carries, as it stands now."""
    if profile is None:
        return {"display_name": "", "bio": "", "website": "", "location": "", "links": []}
    return {
        "display_name": profile.display_name or "",
        "bio": profile.bio or "",
        "website": profile.website or "",
        "location": profile.location or "",
        "links": [
            {"label": str(link.get("label") or ""), "url": str(link.get("url") or "")}
            for link in profile.links or []
            if isinstance(link, dict) and link.get("url")
        ],
    }


def is_empty(text: dict[str, Any] | None) -> bool:
    return not text or not any(text.get(name) for name in SNAPSHOT_FIELDS)


@dataclass(frozen=True)
class Fitted:
    """What one platform gets: `values` (our field name → text; "fields" → [[name, value], …])
    and which of them had to be cut."""

    values: dict[str, Any]
    cut: frozenset[str] = field(default_factory=frozenset)

    @property
    def digest(self) -> str:
        """The sha256 the engine's skip-if-unchanged compares (canonical JSON)."""
        canonical = json.dumps(self.values, sort_keys=True, ensure_ascii=False, separators=",:")
        return hashlib.sha256(canonical.encode()).hexdigest()


def fit(text: dict[str, Any] | None, capabilities: Capabilities) -> Fitted:
    """`text` (a snapshot) as the platform will take it; empty when it takes none of it."""
    if not text or not capabilities.pushes_text:
        return Fitted({})
    values: dict[str, Any] = {}
    cut: set[str] = set()
    for name, limit in capabilities.text.items():
        value = str(text.get(name) or "").strip()
        if not value:
            continue
        if name == "website" and not _fits(value, limit):
            cut.add(name)  # a shortened address leads nowhere: better none at all
            continue
        values[name], was_cut = cut_to(value, limit)
        if was_cut:
            cut.add(name)
    pairs_rule = capabilities.link_fields
    if pairs_rule is not None:
        pairs = []
        if text.get("website"):
            pairs.append((WEBSITE_LABEL, str(text["website"])))
        for link in text.get("links") or []:
            pairs.append((str(link.get("label") or link.get("url")), str(link.get("url"))))
        if len(pairs) > pairs_rule.pairs:
            cut.add("fields")
        fitted_pairs = []
        for name, value in pairs[: pairs_rule.pairs]:
            name, name_cut = cut_to(name, TextLimit(pairs_rule.name_limit))
            value, value_cut = cut_to(value, TextLimit(pairs_rule.value_limit))
            if name_cut or value_cut:
                cut.add("fields")
            fitted_pairs.append([name, value])
        if fitted_pairs:
            values["fields"] = fitted_pairs
    return Fitted(values, frozenset(cut))


def cut_to(value: str, limit: TextLimit) -> tuple[str, bool]:
    """`value` within `limit` (in its unit): unchanged when it fits, else cut at a grapheme
    boundary, at a word boundary where one is near, with "…" at the end."""
    if _fits(value, limit):
        return value, False
    clusters = split_graphemes(value) if limit.unit == "graphemes" else list(value)
    room = limit.limit - 1  # the ellipsis is one character and one grapheme
    if room <= 0:
        return "".join(clusters[: limit.limit]), True
    kept = clusters[:room]
    while kept and not _fits("".join(kept) + ELLIPSIS, limit):
        kept.pop()  # heavy graphemes (emoji sequences) over the byte cap
    joined = "".join(kept)
    space = max(joined.rfind(" "), joined.rfind("\n"))
    if space >= len(joined) * 2 // 3:  # a word boundary not too far back
        joined = joined[:space]
    return joined.rstrip() + ELLIPSIS, True


def _fits(value: str, limit: TextLimit) -> bool:
    if _length(value, limit.unit) > limit.limit:
        return False
    return limit.max_bytes is None or len(value.encode()) <= limit.max_bytes


def _length(value: str, unit: str) -> int:
    return graphemes(value) if unit == "graphemes" else len(value)
