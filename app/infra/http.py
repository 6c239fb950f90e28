"""HTTP to platforms, with an SSRF guard on every address a person can type.

People type their Mastodon instance or Bluesky PDS (or a webhook endpoint); without a guard,
"connect" would let anyone make our servers call http://169.254.169.254/ or the database next
door. So a URL must be https and every address its host resolves to must be public, checked when
the URL is entered and again before each request (DNS can change in between). The address each
connection actually reaches is checked too, before anything is sent: a name that resolves to a
public address for the check and to a private one a moment later (DNS rebinding) gets nowhere.
ALLOW_INSECURE_PLATFORM_URLS lifts these rules for development and tests against loopback
servers; production refuses to start with it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import urlsplit, urlunsplit

import requests
from flask import current_app
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

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
        addresses = _resolve(host, parts.port or 443)
    except (socket.gaierror, UnicodeError):
        raise UnsafeUrl(f"{host} could not be found (check the spelling).") from None
    for address in addresses:
        if not _is_public(address):
            raise UnsafeUrl(f"{host} points to a private or local network address.")


def _resolve(host: str, port: int) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]


def _is_public(raw: str) -> bool:
    address = ipaddress.ip_address(raw.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address.is_global and not address.is_multicast


def _refuse_private_peer(sock: socket.socket, host: str) -> None:
    peer = sock.getpeername()[0]
    if not _is_public(peer):
        sock.close()
        raise UnsafeUrl(f"{host} points to a private or local network address.")


class _PeerCheckedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _refuse_private_peer(sock, self.host)
        return sock


class _PeerCheckedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:  # before the TLS handshake: nothing sent yet
        sock = super()._new_conn()
        _refuse_private_peer(sock, self.host)
        return sock


class _PeerCheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PeerCheckedHTTPConnection


class _PeerCheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PeerCheckedHTTPSConnection


class PeerCheckedAdapter(HTTPAdapter):
    """Refuses a connection whose peer is not a public address, whatever the name resolved to
    when check_url looked."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PeerCheckedHTTPPool,
            "https": _PeerCheckedHTTPSPool,
        }


# A caller that must not wait on a platform (deleting an account) lowers every call's timeout.
_timeout_cap: ContextVar[float | None] = ContextVar("platform_timeout_cap", default=None)


@contextmanager
def capped_timeouts(seconds: float) -> Iterator[None]:
    """Platform calls made inside wait at most `seconds` each (connect and read)."""
    token = _timeout_cap.set(seconds)
    try:
        yield
    finally:
        _timeout_cap.reset(token)


def platform_timeout(timeout: float | None = None) -> float:
    """`timeout` (default PLATFORM_HTTP_TIMEOUT), lowered to the cap a caller set, if any."""
    chosen = timeout or current_app.config["PLATFORM_HTTP_TIMEOUT"]
    cap = _timeout_cap.get()
    return min(chosen, cap) if cap else chosen


class PlatformHttp:
    """A requests session for one platform call sequence: timeouts, our user agent, no
    redirects (a redirect could lead to a private address), and the guard before each call."""

    def __init__(self, timeout: float | None = None):
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        if not _insecure_allowed():
            self.session.mount("https://", PeerCheckedAdapter())
            self.session.mount("http://", PeerCheckedAdapter())
        self.timeout = platform_timeout(timeout)

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
