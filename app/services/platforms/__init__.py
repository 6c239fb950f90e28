"""Every platform Linkarooie knows, listed once in REGISTRY: one adapter module per platform
with an API, and the manual platforms (files prepared for the person) as data in manual.py.

Adding a platform is one module and one line here; nothing else asks which platform it has.
"""

from __future__ import annotations

from app.services.exceptions import NotFound
from app.services.platforms.base import Platform
from app.services.platforms.bluesky import Bluesky
from app.services.platforms.facebook_pages import FacebookPages
from app.services.platforms.gravatar import Gravatar
from app.services.platforms.manual import MANUAL_PLATFORMS
from app.services.platforms.mastodon import Mastodon
from app.services.platforms.x import X
from app.services.platforms.youtube import YouTube

REGISTRY: dict[str, Platform] = {
    platform.key: platform
    for platform in (
        Mastodon(),
        Bluesky(),
        X(),
        FacebookPages(),
        YouTube(),
        Gravatar(),
        *MANUAL_PLATFORMS,
    )
}


def get(key: str) -> Platform:
    try:
        return REGISTRY[key]
    except KeyError:
        raise NotFound(f"Linkarooie does not know a platform called {key!r}.") from None


def all_adapters() -> list[Platform]:
    """The platforms we push to, in the order the pages list them."""
    return [platform for platform in REGISTRY.values() if not platform.is_manual]


def manual_platforms() -> list[Platform]:
    return [platform for platform in REGISTRY.values() if platform.is_manual]
