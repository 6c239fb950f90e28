"""The sync preferences page (/settings/sync): default target accounts, the slots each account
takes, auto-sync and the drift watch's frequency. The rules live in
app/services/sync/preferences.py."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.blueprints.sync import bp
from app.extensions import db
from app.input import ID_MAX
from app.services.platforms import connections
from app.services.sync import preferences
from app.services.sync.preferences import Choices, InvalidPreferences

SLOT_FIELD = "slots-"


def _page(choices: Choices | None = None, status: int = 200, error: str | None = None) -> Any:
    accounts = connections.accounts_of(current_user)
    if choices is None:
        saved = preferences.of(current_user)
        choices = Choices(
            default_account_ids=[a.id for a in accounts if preferences.is_default(saved, a)],
            slots_on={
                a.id: [s for s in preferences.slots_of(a) if s not in a.slots_off] for a in accounts
            },
            auto_sync=saved.auto_sync,
            drift_watch=saved.drift_watch or "off",
        )
    body = render_template(
        "sync/preferences.html",
        accounts=accounts,
        slots_of=preferences.slots_of,
        choices=choices,
        frequencies=preferences.DRIFT_FREQUENCIES,
        error=error,
    )
    return body, status


def _id(raw: str) -> int:
    value = raw.strip()
    if not value.isdigit() or not 0 < int(value) <= ID_MAX:
        raise InvalidPreferences("Choose the accounts from the list.")
    return int(value)


def _submitted() -> Choices:
    # Unticked checkboxes send nothing, so each account on the page also sends its id: an
    # account whose slots are all unticked is then told apart from one that was not on the page.
    shown = request.form.getlist("accounts")
    named = [key[len(SLOT_FIELD) :] for key in request.form if key.startswith(SLOT_FIELD)]
    return Choices(
        default_account_ids=[_id(raw) for raw in request.form.getlist("default_account_ids")],
        slots_on={
            _id(raw): request.form.getlist(f"{SLOT_FIELD}{raw.strip()}")
            for raw in dict.fromkeys([*shown, *named])
        },
        auto_sync=request.form.get("auto_sync") == "on",
        drift_watch=request.form.get("drift_watch"),
    )


@bp.get("/settings/sync")
@login_required
def preferences_page() -> Any:
    return _page()


@bp.post("/settings/sync")
@login_required
def save_preferences() -> Any:
    choices = None
    try:
        choices = _submitted()
        preferences.update(current_user, choices)
    except InvalidPreferences as exc:
        db.session.rollback()
        return _page(choices, 422, error=exc.message)  # what they ticked, to fix and resend
    db.session.commit()
    flash("Sync preferences saved.", "success")
    return redirect(url_for("sync.preferences_page"), 303)
