"""Thin routes: read the form, make one service call, commit, answer (page or htmx fragment).

Link actions answer the links fragment to htmx and redirect back to plain form posts, so the
page works without JavaScript too.
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.extensions import db
from app.htmx import is_htmx
from app.models import Profile
from app.services import profiles
from app.services.exceptions import DomainError
from app.services.profiles.limits import TEXT_FIELDS, PlatformLimits

from . import bp

TEXT_INPUTS = ("handle", "display_name", "bio", "website", "location")
FLAGS = ("public", "indexable")
# What the public page can show, in the order the form lists them
PAGE_FIELDS = {
    "avatar": "Avatar",
    "banner": "Banner",
    "display_name": "Display name",
    "bio": "Bio",
    "location": "Location",
    "website": "Website",
    "links": "Links",
}


def limit_rows(limits: list[PlatformLimits], field: str) -> dict[str, Any]:
    """What the template lists under `field`: each platform's count and who would cut it."""
    rows = [(p.label, p.fields[field]) for p in limits if field in p.fields]
    return {"rows": rows, "cut_by": [label for label, limit in rows if limit.over]}


def _values(profile: Profile) -> dict[str, Any]:
    values = {name: getattr(profile, name) for name in (*TEXT_INPUTS, *FLAGS)}
    values["shown_fields"] = {
        name: (profile.shown_fields or {}).get(name) is not False for name in PAGE_FIELDS
    }
    return values


def _page(
    profile: Profile,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
    **links: dict[str, str],
) -> Response:
    text = {name: values.get(name) or "" for name in TEXT_FIELDS}
    limits = profiles.platform_limits(profile, text)
    return make_response(
        render_template(
            "profile/index.html",
            profile=profile,
            values=values,
            errors=errors,
            page_fields=PAGE_FIELDS,
            limits={field: limit_rows(limits, field) for field in TEXT_FIELDS},
            link_errors=links.get("link_errors", {}),
            link_values=links.get("link_values", {}),
        ),
        status,
    )


@bp.get("/profile")
@login_required
def index() -> Response:
    profile = profiles.get_or_create(current_user)
    db.session.commit()
    return _page(profile, _values(profile), {})


@bp.post("/profile")
@login_required
def save() -> Response:
    form = request.form
    changes: dict[str, Any] = {name: form[name] for name in TEXT_INPUTS if name in form}
    if "display_name" in form:  # the whole form was sent: an unticked box is a "no"
        changes.update({flag: flag in form for flag in FLAGS})
    if "page_fields" in form:  # the form's "Show on my public page" boxes were sent
        changes["shown_fields"] = {name: f"show_{name}" in form for name in PAGE_FIELDS}
    try:
        profile = profiles.update(current_user, changes)
    except profiles.ProfileInvalid as invalid:
        db.session.rollback()
        profile = profiles.get_or_create(current_user)
        return _page(profile, {**_values(profile), **changes}, invalid.fields, 422)
    db.session.commit()
    flash("Profile saved.", "success")
    return redirect(url_for("profile.index"))


@bp.post("/profile/limits")
@login_required
def limits() -> Response:
    field = request.args.get("field", "")
    if field not in TEXT_FIELDS:
        raise DomainError(f"No platform limits for {field!r}.", status=400, code="bad_field")
    value = request.form.get(field, "")
    profile = profiles.get_or_create(current_user)
    rows = limit_rows(profiles.platform_limits(profile, {field: value}), field)
    response = make_response(render_template("profile/partials/limits.html", field=field, **rows))
    response.vary.add("HX-Request")
    return response


def _links_answer(
    profile: Profile, errors: dict[str, str] | None = None, values: dict[str, str] | None = None
) -> Response:
    status = 422 if errors else 200
    if not is_htmx():
        if errors:
            page = _values(profile)
            return _page(profile, page, {}, status, link_errors=errors, link_values=values or {})
        return redirect(url_for("profile.index") + "#links")
    response = make_response(
        render_template(
            "profile/partials/links.html",
            profile=profile,
            link_errors=errors or {},
            link_values=values or {},
        ),
        status,
    )
    response.vary.add("HX-Request")
    return response


def _index_field() -> int:
    raw = request.form.get("index", "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 4:
        raise profiles.ProfileInvalid({"links": "That link is no longer there; reload the page."})
    return int(raw)


def _link_action(action) -> Response:
    try:
        profile = action()
    except profiles.ProfileInvalid as invalid:
        db.session.rollback()
        values = {k: request.form.get(k, "") for k in ("label", "url")}
        return _links_answer(profiles.get_or_create(current_user), invalid.fields, values)
    db.session.commit()
    return _links_answer(profile)


@bp.post("/profile/links")
@login_required
def add_link() -> Response:
    form = request.form
    return _link_action(lambda: profiles.add_link(current_user, form.get("label"), form.get("url")))


@bp.post("/profile/links/remove")
@login_required
def remove_link() -> Response:
    return _link_action(lambda: profiles.remove_link(current_user, _index_field()))


@bp.post("/profile/links/move")
@login_required
def move_link() -> Response:
    offsets = {"up": -1, "down": 1}

    def move() -> Profile:
        direction = request.form.get("direction", "")
        if direction not in offsets:
            raise profiles.ProfileInvalid({"links": "Move a link up or down."})
        return profiles.move_link(current_user, _index_field(), offsets[direction])

    return _link_action(move)
