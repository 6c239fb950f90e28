"""The application factory: small named steps, nothing connects at import."""

import re
import time
import uuid
from pathlib import Path

from flask import Flask, g, request

from app import logconfig
from app.config import (
    INSTANCE_DIR,
    Config,
    ProductionConfig,
    config_from_env,
    embedded_secret_key,
    production_problems,
    public_host,
)
from app.input import register_input_guards
from app.logconfig import configure_logging, request_id_var

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def create_app(config: type[Config] | Config | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    register_input_guards(app)
    load_config(app, config or config_from_env())
    configure_logging(app.config["LOG_LEVEL"])
    from app.blueprints.public.recent import answer_recent_public_pages

    # Inside ProxyFix (installed next), so it sees the visitor's address and scheme.
    answer_recent_public_pages(app)
    trust_proxies(app)
    register_extensions(app)
    register_blueprints(app)
    from app.blueprints.sync.polls import answer_unchanged_polls

    answer_unchanged_polls(app)
    register_request_hooks(app)
    register_template_helpers(app)
    from app.security_headers import register_security_headers

    register_security_headers(app)
    from app.errors import register_error_handlers

    register_error_handlers(app)
    from app.cli import register_commands

    register_commands(app)
    return app


class ConfigurationError(RuntimeError):
    """The environment lacks settings this profile cannot run without (one line each)."""


def load_config(app: Flask, config: type[Config] | Config) -> None:
    app.config.from_object(config)
    production = issubclass(config if isinstance(config, type) else type(config), ProductionConfig)
    if production:
        if problems := production_problems(app.config):
            raise ConfigurationError(
                "APP_ENV=production cannot start:\n" + "\n".join(f"  {p}" for p in problems)
            )
        if not app.config["TRUSTED_HOSTS"]:
            app.config["TRUSTED_HOSTS"] = [public_host(app.config["PUBLIC_URL"])]
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = embedded_secret_key()
    if not app.config["TOKEN_ENCRYPTION_KEYS"]:
        from app.services.crypto import embedded_keys

        app.config["TOKEN_ENCRYPTION_KEYS"] = embedded_keys(INSTANCE_DIR)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
        # The in-process worker thread writes while requests do; wait for the lock, don't fail.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 15}}


def nest_sqlite_savepoints(app: Flask) -> None:
    """Make a SAVEPOINT on SQLite nest inside a real transaction, as it does on PostgreSQL.

    Python's sqlite3 opens a transaction only before a write. A SAVEPOINT issued before any
    write therefore started the transaction itself, and releasing it committed everything:
    the caller's later rollback could no longer undo the work. So open the transaction first.
    """
    from sqlalchemy import event

    from app.extensions import db

    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "savepoint")
    def begin_before_savepoint(connection, name) -> None:
        driver = connection.connection.driver_connection
        if not driver.in_transaction:
            driver.execute("BEGIN")


def scope_transactions(app: Flask) -> None:
    """PostgreSQL: every transaction carries whose rows it may see (app/infra/row_security.py)."""
    from app.extensions import db
    from app.infra import row_security

    with app.app_context():
        row_security.install(db.engine)


def trust_proxies(app: Flask) -> None:
    """Take the client's address and scheme from the last TRUSTED_PROXY_COUNT forwarded hops.

    ProxyFix reads X-Forwarded-For right to left, so entries a client forged on the left are
    never used; the Host header is not taken from the proxy (links come from PUBLIC_URL).
    """
    count = app.config["TRUSTED_PROXY_COUNT"]
    if count > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]


def register_extensions(app: Flask) -> None:
    from app import (
        models,  # noqa: F401  (every table registered before migrate/autogenerate)
        tasks,  # noqa: F401  (every job registered by name before anything queues one)
    )
    from app.blueprints.oauth.providers import register_providers
    from app.extensions import csrf, db, limiter, login_manager, migrate, oauth
    from app.infra.storage import storage_from_config
    from app.jobs import init_jobs
    from app.keys import init_keys
    from app.security import load_user

    init_keys(app)  # sessions signed with their own derived key; SECRET_KEY_FALLBACKS verify
    db.init_app(app)
    nest_sqlite_savepoints(app)
    scope_transactions(app)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.user_loader(load_user)
    oauth.init_app(app)
    register_providers(app)
    app.extensions["storage"] = storage_from_config(app.config)
    init_jobs(app)


def register_blueprints(app: Flask) -> None:
    from app.blueprints.account_data import bp as account_data_bp
    from app.blueprints.admin import bp as admin_bp
    from app.blueprints.analytics import bp as analytics_bp
    from app.blueprints.api import bp as api_bp
    from app.blueprints.auth import bp as auth_bp
    from app.blueprints.connections import bp as connections_bp
    from app.blueprints.health import bp as health_bp
    from app.blueprints.images import bp as images_bp
    from app.blueprints.main import bp as main_bp
    from app.blueprints.media import bp as media_bp
    from app.blueprints.metrics import bp as metrics_bp
    from app.blueprints.notifications import bp as notifications_bp
    from app.blueprints.oauth import bp as oauth_bp
    from app.blueprints.profile import bp as profile_bp
    from app.blueprints.public import bp as public_bp
    from app.blueprints.sync import bp as sync_bp
    from app.blueprints.webhooks import bp as webhooks_bp

    blueprints = (main_bp, health_bp, media_bp, oauth_bp, auth_bp, api_bp, images_bp)
    others = (connections_bp, sync_bp, profile_bp, admin_bp, metrics_bp, public_bp)
    for bp in (*blueprints, *others, analytics_bp, webhooks_bp, account_data_bp):
        app.register_blueprint(bp)
    app.register_blueprint(notifications_bp)


def register_request_hooks(app: Flask) -> None:
    from app.infra import row_security
    from app.services.ops import metrics

    def start_request() -> None:
        # Nobody's rows until the request says whose (signing in, a token, a public page).
        g.row_scope_token = row_security.start()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.request_started = time.perf_counter()
        g.request_id_token = request_id_var.set(g.request_id)
        if not app.config.get("PUBLIC_URL"):
            from app.services.notifications.mail import remember_local_site, request_site_url

            g.site_url_token = request_site_url.set(request.url_root)
            remember_local_site(request.url_root)

    # First of all hooks, so the clock and the request id also cover requests that an earlier
    # hook turns away (bad input, a missing CSRF token, a rate limit).
    app.before_request_funcs.setdefault(None, []).insert(0, start_request)

    @app.after_request
    def log_request(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        started = g.get("request_started")
        if started is None:
            return response
        seconds = time.perf_counter() - started
        metrics.observe_request(request.endpoint, request.method, response.status_code, seconds)
        if request.endpoint != "static":
            # Only a user this request already loaded: logging must not cost a query (status
            # polls answer 304 without touching the database).
            user = g.get("_login_user")
            logconfig.log_request(
                request.method,
                request.path,
                response.status_code,
                seconds,
                # the id, never get_id(): that carries the session key, a secret; from the
                # identity map, since a committed row would be reloaded (another query, and
                # after sign-out one the request may no longer see)
                user_id=_identity(user),
                remote_addr=request.remote_addr,
            )
        return response

    @app.teardown_request
    def end_request(_exc) -> None:
        scope_token = g.pop("row_scope_token", None)
        if scope_token is not None:
            row_security.finish(scope_token)
        token = g.pop("request_id_token", None)
        if token is not None:
            request_id_var.reset(token)
        site_token = g.pop("site_url_token", None)
        if site_token is not None:
            from app.services.notifications.mail import request_site_url

            request_site_url.reset(site_token)


# The nav shows an area only once its blueprint is registered, so features can land one by one.
SIGNED_OUT_LINKS = (("auth.login", "Sign in"), ("auth.register", "Sign up"))
SIGNED_IN_LINKS = (
    ("images.index", "Images"),
    ("connections.index", "Connections"),
    ("sync.index", "Sync"),
    ("sync.history", "History"),
    ("sync.schedules_page", "Scheduled"),
    ("profile.index", "Profile"),
    ("analytics.index", "Analytics"),
    ("auth.settings", "Settings"),
)


def _identity(user) -> int | None:
    from sqlalchemy import inspect

    state = inspect(user, raiseerr=False) if user is not None else None
    return state.identity[0] if state is not None and state.identity else None


def register_template_helpers(app: Flask) -> None:
    @app.context_processor
    def navigation():
        def nav_links(user) -> list[tuple[str, str]]:
            links = SIGNED_IN_LINKS if user is not None else SIGNED_OUT_LINKS
            if user is not None and user.is_admin:
                links = (*links, ("admin.index", "Admin"))
            return [
                (endpoint, label) for endpoint, label in links if endpoint in app.view_functions
            ]

        return {"nav_links": nav_links}
