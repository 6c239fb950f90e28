"""Who a visit came from, as far as counting needs and no further.

A visitor is HMAC-SHA256(day's salt, address + user agent), cut to 32 hex digits: the same
browser is one visitor for the day, and once the day's salt is deleted nobody (us included) can
link it to another day or get the address back. Visitors who send `DNT: 1` or `Sec-GPC: 1` are
not recorded at all; known bots are recorded apart, so they never count as people.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.models.analytics import VisitorSalt

# Crawlers, link unfurlers, uptime checkers and HTTP libraries: not people reading a page.
BOTS = re.compile(
    r"bot|crawl|spider|slurp|archiver|preview|facebookexternalhit|embedly|quora link|"
    r"whatsapp|curl|wget|python-requests|python-urllib|httpx|aiohttp|go-http-client|okhttp|"
    r"java/|libwww|headless|lighthouse|pingdom|uptime|monitor|scan",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Visit:
    visitor: str
    bot: bool
    referrer: str | None


def not_tracked(environ: dict) -> bool:
    return environ.get("HTTP_DNT") == "1" or environ.get("HTTP_SEC_GPC") == "1"


def is_bot(user_agent: str) -> bool:
    return not user_agent.strip() or BOTS.search(user_agent) is not None


def referrer_host(referer: str, own_host: str | None) -> str | None:
    """The referring site's host, lower-cased; None for none, our own pages or nonsense."""
    try:
        host = (urlsplit(referer).hostname or "").lower()
    except ValueError:
        return None
    own = (own_host or "").split(":")[0].lower()
    if not host or host == own:
        return None
    return host[:255]


class Salts:
    """Each UTC day's salt, made by whichever process needs it first, cached per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._today: tuple[date, bytes] | None = None

    def cached(self, day: date) -> bytes | None:
        cached = self._today
        return cached[1] if cached is not None and cached[0] == day else None

    def for_day(self, engine, day: date) -> bytes:
        if (salt := self.cached(day)) is not None:
            return salt
        with self._lock:
            salt = _stored_salt(engine, day)
            self._today = (day, salt)
            return salt


def _stored_salt(engine, day: date) -> bytes:
    table = VisitorSalt.__table__
    with engine.begin() as conn:
        found = conn.scalar(select(table.c.salt).where(table.c.day == day))
    if found is None:
        try:
            with engine.begin() as conn:
                conn.execute(table.insert().values(day=day, salt=secrets.token_hex(32)))
        except IntegrityError:
            pass  # another process made it first: use theirs
        with engine.begin() as conn:
            found = conn.scalar(select(table.c.salt).where(table.c.day == day))
    return bytes.fromhex(found)


def visit(environ: dict, salt: bytes) -> Visit:
    """The facts a visit is counted by, its visitor keyed with the day's `salt`."""
    address = environ.get("REMOTE_ADDR") or ""
    user_agent = environ.get("HTTP_USER_AGENT") or ""
    digest = hmac.new(salt, f"{address}\n{user_agent}".encode(), hashlib.sha256).hexdigest()
    return Visit(
        visitor=digest[:32],
        bot=is_bot(user_agent),
        referrer=referrer_host(environ.get("HTTP_REFERER") or "", environ.get("HTTP_HOST")),
    )
