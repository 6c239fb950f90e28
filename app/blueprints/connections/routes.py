"""Thin routes for connecting platform accounts.

One generic pair of routes serves every platform: `POST /connections/<platform>` starts an OAuth
round trip or connects with typed credentials, whichever the adapter's capabilities say, and
`/connections/<platform>/callback` finishes the round trip. What the adapter asks us to remember
meanwhile (state, PKCE verifier, instance) waits in the session, keyed by its `state`. A sign-in
that covers several accounts (Facebook Pages) ends on `/connections/<platform>/choose`, where the
person ticks the ones to connect; that choice waits in the session, single use and short-lived.
"""

from __future__ import annotations

import time
from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required

from app.blueprints.auth.session import client_ip
from app.blueprints.connections import bp
from app.extensions import db
from app.htmx import is_htmx
from app.models import PlatformAccount
from app.security import owned_or_404, verified_required
from app.security_headers import policy_allowing_forms_to
from app.services import platforms
from app.services.exceptions import DomainError
from app.services.notifications.mail import external_url
from app.services.platforms import connections
from app.services.platforms.base import ChooseAccounts, Connection
from app.services.sync import drift

PENDING = "platform_pending"  # OAuth round trips in flight, newest last
MAX_PENDING = 5  # a few tabs' worth; older ones are dropped so the cookie stays small
CHOOSING = "platform_choosing"  # a finished sign-in waiting for the person to pick accounts
CHOICE_SECONDS = 15 * 60  # long enough to decide, short enough that a stale cookie is useless
# Typed fields a failed attempt shows again (never the app password).
KEPT_FIELDS = ("instance_url", "handle", "service_url")


def _form() -> dict[str, str]:
    return {key: value for key, value in request.form.items() if key != "csrf_token"}


def _page(status: int = 200, *, error: str | None = None, platform: str | None = None) -> Response:
    accounts = connections.accounts_of(current_user)
    by_platform: dict[str, list[PlatformAccount]] = {}
    for account in accounts:
        by_platform.setdefault(account.platform, []).append(account)
    kept = {key: request.form.get(key, "") for key in KEPT_FIELDS} if error else {}
    body = render_template(
        "connections/index.html",
        adapters=platforms.all_adapters(),
        manual_platforms=platforms.manual_platforms(),
        by_platform=by_platform,
        error=error,
        error_platform=platform,
        kept=kept,
    )
    response = make_response(body, status)
    # The connect forms are answered by a redirect to the person's own instance.
    schemes = (
        ["https:", "http:"] if current_app.config["ALLOW_INSECURE_PLATFORM_URLS"] else ["https:"]
    )
    response.headers["Content-Security-Policy"] = policy_allowing_forms_to(schemes)
    return response


def _failed(exc: DomainError, platform: str) -> Any:
    db.session.rollback()
    status = exc.status if 400 <= exc.status < 500 else 400
    return _page(status, error=exc.message, platform=platform)


def _callback_url(platform: str) -> str:
    # PUBLIC_URL when set (a forged Host header must not choose where the platform sends people
    # back); the same string in both halves of the round trip, as OAuth requires.
    return external_url("connections.callback", platform=platform)


@bp.app_template_global("platform_profile_url")
def platform_profile_url(account: PlatformAccount) -> str | None:
    adapter = platforms.REGISTRY.get(account.platform)
    return adapter.profile_url(account) if adapter else None


@bp.app_template_global("platform_label")
def platform_label(key: str) -> str:
    adapter = platforms.REGISTRY.get(key)
    return adapter.label if adapter else key.capitalize()


@bp.get("/connections")
@login_required
def index() -> Any:
    return _page()


@bp.post("/connections/<platform>")
@verified_required
def connect(platform: str) -> Any:
    adapter = platforms.get(platform)
    try:
        if adapter.capabilities.connect == "oauth":
            authorization = adapter.start_authorization(_form(), _callback_url(platform))
            db.session.commit()  # the app registered on a new instance is kept for everyone
            _remember(platform, authorization.pending)
            return redirect(authorization.url, 303)
        return _connected(platform, adapter.connect(_form()))
    except DomainError as exc:
        return _failed(exc, platform)


@bp.get("/connections/<platform>/callback")
@verified_required
def callback(platform: str) -> Any:
    adapter = platforms.get(platform)
    # OAuth 1.0a (X) has no `state`: the request token it sends back (or the one it says was
    # denied) identifies the round trip instead.
    args = request.args
    state = args.get("state") or args.get("oauth_token") or args.get("denied") or ""
    pending = _take(platform, state)
    if pending is None:
        return _page(
            400,
            error="This connection attempt has expired or was already used. "
            f"Please connect {adapter.label} again.",
            platform=platform,
        )
    try:
        args = request.args.to_dict()
        return _connected(
            platform, adapter.finish_authorization(pending, args, _callback_url(platform))
        )
    except DomainError as exc:
        return _failed(exc, platform)


def _connected(platform: str, connection: Connection | ChooseAccounts) -> Response:
    if isinstance(connection, ChooseAccounts):
        return _choose_later(platform, connection)
    account = connections.save(current_user, platform, connection, ip=client_ip())
    db.session.commit()
    label = platforms.get(platform).label
    if account.is_connected:
        flash(f"Connected {label} as {account.handle}.", "success")
    else:
        flash(f"Added {label} ({account.handle}): every sync now prepares its files.", "success")
    return redirect(url_for("connections.index"), 303)


@bp.post("/connections/<int:account_id>/disconnect")
@login_required
def disconnect(account_id: int) -> Response:
    account = owned_or_404(PlatformAccount, account_id)
    connections.disconnect(account, ip=client_ip())
    db.session.commit()  # the job that gives the token back runs after this
    flash(f"Disconnected {account.handle}.", "success")
    return redirect(url_for("connections.index"), 303)


def _remember(platform: str, pending: dict[str, Any]) -> None:
    waiting = [p for p in session.get(PENDING, []) if isinstance(p, dict)]
    waiting.append({"platform": platform, "pending": pending})
    session[PENDING] = waiting[-MAX_PENDING:]


def _take(platform: str, state: str) -> dict[str, Any] | None:
    """The pending round trip this callback finishes, removed so it cannot be replayed."""
    waiting = [p for p in session.get(PENDING, []) if isinstance(p, dict)]
    for entry in waiting:
        pending = entry.get("pending") or {}
        if state and entry.get("platform") == platform and pending.get("state") == state:
            waiting.remove(entry)
            session[PENDING] = waiting
            return pending
    return None


# Choosing among the accounts one sign-in covers (a person's Facebook Pages)


def _choose_later(platform: str, choice: ChooseAccounts) -> Response:
    # One choice at a time: a newer sign-in replaces an older one. Adapters keep secrets in
    # `pending` encrypted, since the session cookie is only signed.
    session[CHOOSING] = {
        "platform": platform,
        "options": [[remote_id, label] for remote_id, label in choice.options],
        "pending": choice.pending,
        "at": time.time(),
    }
    return redirect(url_for("connections.choose", platform=platform), 303)


def _choice(platform: str) -> dict[str, Any] | None:
    waiting = session.get(CHOOSING)
    if not isinstance(waiting, dict) or waiting.get("platform") != platform:
        return None
    if not isinstance(waiting.get("at"), int | float) or (
        time.time() - waiting["at"] > CHOICE_SECONDS
    ):
        session.pop(CHOOSING, None)
        return None
    return waiting


def _choice_gone(platform: str) -> Response:
    label = platforms.get(platform).label
    return _page(
        400,
        error=f"This choice has expired or was already used. Please connect {label} again.",
        platform=platform,
    )


def _choose_page(
    platform: str, waiting: dict[str, Any], status: int = 200, error: str | None = None
) -> Response:
    body = render_template(
        "connections/choose.html",
        platform=platform,
        label=platforms.get(platform).label,
        options=[tuple(option) for option in waiting.get("options") or []],
        chosen=set(request.form.getlist("remote_id")),
        error=error,
    )
    return make_response(body, status)


@bp.get("/connections/<platform>/choose")
@verified_required
def choose(platform: str) -> Any:
    platforms.get(platform)
    waiting = _choice(platform)
    return _choice_gone(platform) if waiting is None else _choose_page(platform, waiting)


@bp.post("/connections/<platform>/choose")
@verified_required
def choose_post(platform: str) -> Any:
    adapter = platforms.get(platform)
    waiting = _choice(platform)
    if waiting is None:
        return _choice_gone(platform)
    chosen = [remote_id for remote_id in request.form.getlist("remote_id") if remote_id]
    if not chosen:
        return _choose_page(platform, waiting, 400, "Choose at least one Page to connect.")
    session.pop(CHOOSING, None)  # single use, whatever happens next
    try:
        connected = [
            connections.save(current_user, platform, connection, ip=client_ip())
            for connection in adapter.finish_choice(waiting.get("pending") or {}, chosen)
        ]
    except DomainError as exc:
        return _failed(exc, platform)
    db.session.commit()
    names = ", ".join(account.handle for account in connected)
    noun = "Page" if len(connected) == 1 else "Pages"
    flash(f"Connected {len(connected)} {noun}: {names}.", "success")
    return redirect(url_for("connections.index"), 303)


# The drift watch: a picture changed on the platform (app/services/sync/drift.py)

DRIFT_SLOTS = ("avatar", "banner")


def _drift_account(account_id: int, slot: str | None = None) -> PlatformAccount:
    account = owned_or_404(PlatformAccount, account_id)
    if slot is not None and slot not in DRIFT_SLOTS:
        abort(404)
    return account


def _drift_answer(account: PlatformAccount, message: str) -> Response:
    """The account's row again for htmx (with the message in it), else back to the page."""
    if is_htmx():
        body = render_template("connections/partials/account.html", account=account, notice=message)
        return make_response(body, 200)
    flash(message, "success")
    return redirect(url_for("connections.index") + f"#account-{account.id}", 303)


def _drift_failed(account: PlatformAccount, exc: DomainError) -> Response:
    db.session.rollback()
    status = exc.status if 400 <= exc.status < 500 else 409
    if not is_htmx():
        return _page(status, error=exc.message)
    account = db.session.get(PlatformAccount, account.id)
    body = render_template(
        "connections/partials/account.html", account=account, notice=exc.message, failed=True
    )
    return make_response(body, status)


@bp.post("/connections/<int:account_id>/drift/check")
@login_required
def drift_check(account_id: int) -> Response:
    account = _drift_account(account_id)
    try:
        found = drift.check_now(account)
    except DomainError as exc:
        return _drift_failed(account, exc)
    db.session.commit()
    changed = [d.slot for d in found if d.status == drift.CHANGED]
    label = platform_label(account.platform)
    message = (
        f"Changed on {label}: the {' and '.join(changed)}."
        if changed
        else f"Checked {account.handle}: nothing changed on {label}."
    )
    return _drift_answer(account, message)


@bp.post("/connections/<int:account_id>/drift/<slot>/repush")
@verified_required
def drift_repush(account_id: int, slot: str) -> Response:
    account = _drift_account(account_id, slot)
    try:
        drift.repush(current_user, account, slot)
    except DomainError as exc:
        return _drift_failed(account, exc)
    db.session.commit()
    return _drift_answer(account, f"Putting your {slot} back on {account.handle}.")


@bp.post("/connections/<int:account_id>/drift/<slot>/keep")
@login_required
def drift_keep(account_id: int, slot: str) -> Response:
    account = _drift_account(account_id, slot)
    try:
        drift.keep_theirs(account, slot)
    except DomainError as exc:
        return _drift_failed(account, exc)
    db.session.commit()
    return _drift_answer(account, f"Kept the {slot} that {account.handle} shows now.")
