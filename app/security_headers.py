"""Security headers on every response: a strict CSP (no inline scripts or styles), nosniff,
referrer policy, frame denial, and HSTS in production."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, current_app


def _origin(url: str | None) -> str | None:
    if not url or not isinstance(url, str):
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def storage_origin(app: Flask) -> str | None:
    """Where the browser fetches stored images from: ask the storage for a URL (presigning is
    local, no network) rather than guessing S3's host naming (path vs virtual-host style)."""
    storage = app.extensions.get("storage")
    if storage is None:
        return None
    try:
        return _origin(storage.url("csp/probe.png"))
    except Exception:  # a storage that cannot make URLs offline: fall back to the settings
        return _origin(app.config.get("S3_ENDPOINT_URL"))


def provider_origins(config: dict) -> list[str]:
    """Sign-in providers that are configured (X_CLIENT_ID set) and the origin of their
    X_AUTHORIZE_URL / X_DISCOVERY_URL. Needed in form-action because "Link account" is a POST
    form answered by a redirect to the provider, and Chromium checks form-action on redirects."""
    origins: set[str] = set()
    for key, value in config.items():
        for suffix in ("_AUTHORIZE_URL", "_DISCOVERY_URL"):
            provider = key.removesuffix(suffix)
            configured = key.endswith(suffix) and config.get(f"{provider}_CLIENT_ID")
            if configured and (origin := _origin(value)):
                origins.add(origin)
    return sorted(origins)


def content_security_policy(
    config: dict, storage: str | None = None, providers: list[str] | tuple[str, ...] = ()
) -> str:
    # Images come from 'self', S3 (presigned URLs) or the CDN; blob:/data: for the cropper's
    # previews (Cropper also reads the image with XHR, hence connect-src). No 'unsafe-inline':
    # JS lives in static files, htmx's indicator styles are off in base.html, and Cropper sets
    # styles through the CSSOM, which CSP allows.
    media = ["'self'"]
    for origin in (_origin(config.get("CDN_BASE_URL")), storage):
        if origin and origin not in media:
            media.append(origin)
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": [*media, "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": media,
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'", *providers],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def _current_policy() -> str:
    """Built from today's settings and storage (tests swap both at runtime), cached per value."""
    app = current_app
    storage, providers = storage_origin(app), tuple(provider_origins(app.config))
    key = (storage, providers, app.config.get("CDN_BASE_URL"))
    cache = app.extensions.setdefault("csp_cache", {})
    if key not in cache:
        cache.clear()
        cache[key] = content_security_policy(app.config, storage, providers)
    return cache[key]


def register_security_headers(app: Flask) -> None:
    production = app.config.get("ENV_NAME") == "production"

    @app.after_request
    def set_security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", _current_policy())
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("X-Frame-Options", "DENY")  # for browsers without frame-ancestors
        if production:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response


def policy_allowing_forms_to(extra: list[str]) -> str:
    """Today's policy with more form-action sources, for the one page whose forms are answered
    by a redirect to a host the person types (their Mastodon instance): Chromium checks
    form-action on that redirect, and the host cannot be known before the form is sent."""
    app = current_app
    providers = [*provider_origins(app.config), *extra]
    return content_security_policy(app.config, storage_origin(app), providers)
