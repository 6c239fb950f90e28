"""HTTP to platforms, with an SSRF guard on every address a person can type.

People type their Mastodon instance or Bluesky PDS; without a guard, "connect" would let anyone
make our servers call http://169.254.169.254/ or the database next door. So a URL must be https
and every address its host resolves to must be public, checked when the URL is entered and again
before each request (DNS can change in between). ALLOW_INSECURE_PLATFORM_URLS lifts both rules
for development and tests against loopback servers; production refuses to start with it.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

import requests
from flask import current_app

from app.services.exceptions import DomainError

USER_AGENT = "Linkarooie/1.0 (+https://github.com/linkarooie)"


class UnsafeUrl(DomainError):
    status = 400


def _insecure_allowed() -> bool:
    return bool(current_app.config.get("ALLOW_INSECURE_PLATFORM_URLS"))


def normalize_base_url(raw: str) -> str:
    """ "mastodon.social", "https://Mastodon.Social/" → "https://mastodon.social"; checked."""
    raw = (raw or "").strip()
    if not raw:
        raise UnsafeUrl("Enter the address of your server, e.g. mastodon.social.")
    if "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("That address is not a valid URL.") from None
    host = (parts.hostname or "").rstrip(".")
    if not host or parts.username or parts.password or any(c.isspace() for c in host):
        raise UnsafeUrl("That address is not a valid URL.")
    bracketed = f"[{host}]" if ":" in host else host  # an IPv6 literal
    netloc = bracketed if port is None else f"{bracketed}:{port}"
    base = urlunsplit((parts.scheme.lower(), netloc, "", "", ""))
    check_url(base)
    return base


def check_url(url: str) -> None:
    """Refuse non-https URLs and hosts that resolve to private, loopback or link-local addresses
    (unless ALLOW_INSECURE_PLATFORM_URLS)."""
    parts = urlsplit(url)
    if _insecure_allowed():
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise UnsafeUrl("Only http(s) addresses can be used.")
        return
    if parts.scheme != "https":
        raise UnsafeUrl("The address must start with https://.")
    host = parts.hostname or ""
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise UnsafeUrl(f"{host} could not be found (check the spelling).") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            raise UnsafeUrl(f"{host} points to a private or local network address.")


class PlatformHttp:
    """A requests session for one platform call sequence: timeouts, our user agent, no
    redirects (a redirect could lead to a private address), and the guard before each call."""

    def __init__(self, timeout: float | None = None):
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.timeout = timeout or current_app.config["PLATFORM_HTTP_TIMEOUT"]

    def request(self, method: str, url: str, **kwargs) -> requests.Response:
        check_url(url)
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("allow_redirects", False)
        return self.session.request(method, url, **kwargs)

    def get(self, url: str, **kwargs) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs) -> requests.Response:
        return self.request("POST", url, **kwargs)

    def patch(self, url: str, **kwargs) -> requests.Response:
        return self.request("PATCH", url, **kwargs)

    def close(self) -> None:
        self.session.close()
