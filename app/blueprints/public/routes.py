"""Public, cacheable answers: nothing here reads the session, so no cookie is set and every
visitor gets the same bytes (what lets a CDN or the browser keep them for a minute)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from flask import Response, abort, current_app, redirect, render_template, request, url_for
from werkzeug.http import is_resource_modified

from app.blueprints.public import bp, recent
from app.infra.storage import S3Storage
from app.models.image import Image
from app.services import analytics
from app.services.accounts import deletion
from app.services.profiles import public

PAGE_MAX_AGE = 60
IMAGE_MAX_AGE = 300
AVATAR_DISPLAY_PX = 256  # a 128 CSS px circle on a 2x screen
BANNER_OG_PX = 1200  # what the large card previews want at least
# Rendered pages keyed by ETag: the ETag covers everything the page shows, so a hit is exact.
_RENDERED: dict[tuple[str, str], bytes] = {}
_RENDERED_MAX = 2_000
# Lookups reused for PUBLIC_PAGE_CACHE_SECONDS: a popular page costs a database round trip per
# process per second instead of one per visitor (the connection check, BEGIN, the query and
# ROLLBACK are most of a page's time).
_LOOKUPS: dict[tuple[str, str], tuple[float, public.PublicProfile]] = {}
_LOOKUPS_MAX = 10_000


def _url_epoch() -> str:
    """Presigned S3 URLs expire: a page holding them is a new page every half of their life."""
    storage = current_app.extensions["storage"]
    if isinstance(storage, S3Storage) and not storage.cdn_base_url:
        return str(int(time.time() // max(1, storage.presign_expires // 2)))
    return ""


def _absolute(url: str) -> str:
    if not url.startswith("/"):
        return url  # S3 or the CDN: already absolute
    base = current_app.config.get("PUBLIC_URL") or request.url_root
    return base.rstrip("/") + url


def _file_url(key: str) -> str:
    return _absolute(current_app.extensions["storage"].url(key))


def _safe_url(url: str | None) -> str | None:
    # The editing page accepts only http(s); a row written some other way must not become a
    # javascript: link on a page anyone can open.
    if isinstance(url, str) and url.lower().startswith(("https://", "http://")):
        return url
    return None


def _gone() -> Response:
    # Private and unknown look the same (never 403): a handle's existence is not revealed.
    abort(404)


def _lookup(handle: str) -> public.PublicProfile | None:
    seconds = current_app.config["PUBLIC_PAGE_CACHE_SECONDS"]
    epoch = _url_epoch()
    key = (public.handle_key(handle) or "", epoch)
    now = time.monotonic()
    if seconds > 0 and (hit := _LOOKUPS.get(key)) is not None and now - hit[0] < seconds:
        return hit[1]
    entry = public.load(handle, epoch)
    if seconds > 0 and entry is not None:
        if len(_LOOKUPS) >= _LOOKUPS_MAX:
            _LOOKUPS.clear()
        _LOOKUPS[key] = (now, entry)
    return entry


def _cache_headers(response: Response, entry: public.PublicProfile) -> Response:
    response.set_etag(entry.etag)
    response.last_modified = entry.last_modified
    response.headers["Cache-Control"] = f"public, max-age={PAGE_MAX_AGE}"
    if not entry.profile.indexable:
        response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.get("/@<handle>")
def page(handle: str) -> Response:
    entry = _lookup(handle)
    if entry is None:
        target = public.redirect_target(handle)
        if target is None:
            return _gone()
        response = redirect(url_for("public.page", handle=target), 301)
        # A 301 is kept forever unless told otherwise, and the old handle may be someone
        # else's after the redirect lapses.
        response.headers["Cache-Control"] = f"public, max-age={PAGE_MAX_AGE}"
        return response
    owner = entry.profile.user_id
    request.environ[recent.OWNER] = owner  # whose page the layer in front keeps, if it does
    if request.method == "GET":
        analytics.record_visit("page_view", owner, request.environ)
    if not is_resource_modified(
        request.environ, etag=entry.etag, last_modified=entry.last_modified
    ):
        return _cache_headers(Response(status=304), entry)
    # Without PUBLIC_URL the absolute links follow the Host asked for: part of the key.
    cache_key = (entry.etag, request.url_root)
    body = _RENDERED.get(cache_key)
    if body is None:
        body = _render(public.with_images(entry)).encode()
        if len(_RENDERED) >= _RENDERED_MAX:
            _RENDERED.clear()
        _RENDERED[cache_key] = body
    return _cache_headers(Response(body, mimetype="text/html"), entry)


@deletion.on_deleted
def forget_owner(user_id: int) -> None:
    """A deleted person's page stops at once in this process (other processes keep theirs for
    at most PUBLIC_PAGE_CACHE_SECONDS, then look it up and find nothing)."""
    try:
        for key, (_, entry) in list(_LOOKUPS.items()):
            if entry.profile.user_id == user_id:
                _LOOKUPS.pop(key, None)
                for rendered in [k for k in _RENDERED if k[0] == entry.etag]:
                    _RENDERED.pop(rendered, None)
    except Exception:  # a kept row that cannot be read any more: start both caches afresh
        _LOOKUPS.clear()
        _RENDERED.clear()
    if (pages := current_app.extensions.get("recent_public_pages")) is not None:
        pages.forget_owner(user_id)


def _counted(user_id: int, url: str) -> str:
    return url_for("public.link", link_id=public.link_id(user_id, url))


def _render(entry: public.PublicProfile) -> str:
    profile, user = entry.profile, entry.user
    name = (profile.display_name if entry.show("display_name") else "") or profile.handle
    avatar = public.nearest(entry.avatar, AVATAR_DISPLAY_PX) if entry.avatar else None
    banners = public.widths(entry.banner) if entry.banner else []
    og_banner = public.nearest(entry.banner, BANNER_OG_PX) if entry.banner else None
    og_avatar = public.nearest(entry.avatar, 400) if entry.avatar else None
    og_image = og_banner or og_avatar
    links = []
    if entry.show("links"):
        for link in profile.links or []:
            url = _safe_url(link.get("url")) if isinstance(link, dict) else None
            if url:
                label = (link.get("label") or "").strip() or url
                links.append({"label": label, "url": url, "href": _counted(user.id, url)})
    website = _safe_url(profile.website) if entry.show("website") else None
    bio = profile.bio if entry.show("bio") else ""
    description = " ".join(bio.split())[:200] or f"{name} on Linkarooie"
    return render_template(
        "public/page.html",
        profile=profile,
        name=name,
        bio=bio,
        location=profile.location if entry.show("location") else "",
        website=website,
        website_href=_counted(user.id, website) if website else None,
        website_label=website.split("://", 1)[1].rstrip("/") if website else "",
        links=links,
        avatar_url=_file_url(avatar.storage_key) if avatar else None,
        banner_srcset=", ".join(f"{_file_url(v.storage_key)} {v.width}w" for v in banners),
        banner_url=_file_url(banners[-1].storage_key) if banners else None,
        og_image=_file_url(og_image.storage_key) if og_image else None,
        og_image_size=(og_image.width, og_image.height) if og_image else None,
        twitter_card="summary_large_image" if og_banner else "summary",
        description=description,
        canonical=_absolute(url_for("public.page", handle=profile.handle)),
        user_id=user.id,
    )


def _follow(handle: str, kind: str, param: str) -> Response:
    size = public.parse_size(request.args.get(param), param)
    found = public.find_profile(handle)
    if found is None:
        return _gone()
    profile, user = found
    if (profile.shown_fields or {}).get(kind) is False:
        return _gone()
    avatar, banner = public.current_images(user.id)
    image: Image | None = avatar if kind == "avatar" else banner
    variant = public.nearest(image, size) if image else None
    if variant is None:
        abort(404, description=f"{profile.handle} has no {kind} yet.")
    response = redirect(_file_url(variant.storage_key), 302)
    analytics.record_visit(f"{kind}_fetch", user.id, request.environ)
    response.set_etag(f"{image.id}-{image.revision}-{variant.preset_key}")
    response.headers["Cache-Control"] = f"public, max-age={IMAGE_MAX_AGE}"
    response.expires = datetime.now(UTC) + timedelta(seconds=IMAGE_MAX_AGE)
    return response


@bp.get("/@<handle>/avatar")
def avatar(handle: str) -> Response:
    return _follow(handle, "avatar", "s")


@bp.get("/@<handle>/banner")
def banner(handle: str) -> Response:
    return _follow(handle, "banner", "w")


@bp.get("/l/<link_id>")
def link(link_id: str) -> Response:
    """A click on a public page's link: counted, then on its way."""
    found = public.find_link(link_id)
    if found is None or _safe_url(found[1]) is None:
        return _gone()
    user_id, url = found
    analytics.record_visit("link_click", user_id, request.environ, subject=url)
    response = redirect(url, 302)
    response.headers["Cache-Control"] = "no-store"  # every click should reach us to be counted
    return response
