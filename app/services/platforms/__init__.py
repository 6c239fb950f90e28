"""Every platform Linkarooie talks to: one adapter module each, listed once in REGISTRY.

Adding a platform is one module and one line here; nothing else asks which platform it has.
"""

from __future__ import annotations

from app.services.exceptions import NotFound
from app.services.platforms.base import Adapter
from app.services.platforms.bluesky import Bluesky
from app.services.platforms.facebook_pages import FacebookPages
from app.services.platforms.gravatar import Gravatar
from app.services.platforms.mastodon import Mastodon
from app.services.platforms.x import X

REGISTRY: dict[str, Adapter] = {
    adapter.key: adapter for adapter in (Mastodon(), Bluesky(), X(), FacebookPages(), Gravatar())
}


def get(key: str) -> Adapter:
    try:
        return REGISTRY[key]
    except KeyError:
        raise NotFound(f"Linkarooie does not know a platform called {key!r}.") from None


def all_adapters() -> list[Adapter]:
    return list(REGISTRY.values())
