"""Accounts: sign up, sign in/out, verification, password reset, settings, API tokens."""

from flask import Blueprint, g
from flask.blueprints import BlueprintSetupState

bp = Blueprint("auth", __name__)


@bp.record_once
def configure_login_manager(_state: BlueprintSetupState) -> None:
    from app.extensions import login_manager

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"
    # Marks a session non-fresh when restored from the remember cookie; the session version
    # in the user id (User.get_id) is what ends sessions after a password change.
    login_manager.session_protection = "basic"
    # Flask-Login checks remember cookies against SECRET_KEY alone; accept SECRET_KEY_FALLBACKS
    # too, so a key rotation does not sign out everyone who ticked "keep me signed in".
    from app.blueprints.auth.session import remember_cookie_loader

    login_manager._load_user_from_remember_cookie = remember_cookie_loader(login_manager)


@bp.teardown_app_request
def forget_request_user(_exc: BaseException | None) -> None:
    """Flask-Login caches the user in `g`, which lives on the app context. Where one app context
    spans several requests (tests, `flask shell`), the next request would inherit the user
    without looking at its own cookies; the user belongs to one request only."""
    g.pop("_login_user", None)
    g.pop("user_session", None)  # the server-side session row security.load_user found


from app.blueprints.auth import deletion, reauth, routes, settings  # noqa: E402,F401  (routes on bp)
