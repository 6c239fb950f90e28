"""Settings from the environment, in three profiles: embedded default, production, test.

Nothing here connects to anything; `create_app` reads a Config and fails fast on what is missing.
"""

import os
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_PATH", BASE_DIR / "instance"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str) -> list[str] | None:
    items = [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]
    return items or None


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def database_url(raw: str | None) -> str:
    if not raw:
        return f"sqlite:///{INSTANCE_DIR / 'linkarooie.db'}"
    # Heroku still issues postgres:// URLs, which SQLAlchemy 2 refuses; psycopg 3 is our driver.
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


def embedded_secret_key() -> str:
    """A per-install key kept in instance/, so embedded sessions survive restarts."""
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


class Config:
    ENV_NAME = os.environ.get("APP_ENV", "development")
    TESTING = False
    SECRET_KEY = os.environ.get("SECRET_KEY")

    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    # No REDIS_URL means the embedded default: jobs run on a thread inside the web process.
    REDIS_URL = os.environ.get("REDIS_URL") or None
    QUEUE_PREFIX = os.environ.get("QUEUE_PREFIX", "")
    RQ_QUEUES = ("images", "sync", "default")
    WEB_RUNS_WORKER = env_bool("WEB_RUNS_WORKER")
    JOB_TIMEOUT = env_int("JOB_TIMEOUT", 300)
    # Work waiting longer than this is re-queued (Redis may have lost it); keep it above
    # JOB_TIMEOUT so a job that is merely slow is not run twice.
    STALE_JOB_AFTER = env_int("STALE_JOB_AFTER", 900)
    RECONCILE_INTERVAL = env_int("RECONCILE_INTERVAL", 300)
    # An RQ worker whose last heartbeat is older than this counts as gone; idle, it beats every
    # WORKER_TTL - 15 s, and during a job every 30 s, so keep it well above 45 (RQ's default).
    WORKER_TTL = env_int("WORKER_TTL", 420)
    # The admin page warns when the oldest job waiting on a queue is older than this (seconds).
    ADMIN_QUEUE_AGE_WARNING = env_int("ADMIN_QUEUE_AGE_WARNING", 300)

    # Mail outbox: a failed send is retried after OUTBOX_RETRY_BASE seconds,
    # doubling each time (capped at an hour), and given up after OUTBOX_MAX_ATTEMPTS attempts.
    OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 8)
    OUTBOX_RETRY_BASE = env_int("OUTBOX_RETRY_BASE", 60)
    # Notification mails (other than releases and security notices) wait this many seconds for
    # more events of the same type, so a burst becomes one digest.
    NOTIFY_DIGEST_SECONDS = env_int("NOTIFY_DIGEST_SECONDS", 120)
    # How often to look for connections that end within 7 days and cannot renew themselves.
    EXPIRY_WARNING_INTERVAL = env_int("EXPIRY_WARNING_INTERVAL", 6 * 3600)

    S3_BUCKET = os.environ.get("S3_BUCKET") or None
    S3_ENDPOINT_URL = os.environ.get("S3_ENDPOINT_URL") or None
    S3_REGION = os.environ.get("S3_REGION") or None
    S3_ACCESS_KEY_ID = os.environ.get("S3_ACCESS_KEY_ID") or None
    S3_SECRET_ACCESS_KEY = os.environ.get("S3_SECRET_ACCESS_KEY") or None
    S3_ADDRESSING_STYLE = os.environ.get("S3_ADDRESSING_STYLE") or None
    S3_PRESIGN_EXPIRES = env_int("S3_PRESIGN_EXPIRES", 3600)
    CDN_BASE_URL = os.environ.get("CDN_BASE_URL") or None
    # How long each web process reuses a public page's lookup (/@handle) without asking the
    # database: a change (even "private") shows at most this much later. 0 turns it off.
    PUBLIC_PAGE_CACHE_SECONDS = env_float("PUBLIC_PAGE_CACHE_SECONDS", 1.0)
    # Visits to public pages and what people do, counted without storing any IP address.
    ANALYTICS_ENABLED = env_bool("ANALYTICS_ENABLED", True)
    ANALYTICS_FLUSH_INTERVAL = env_int("ANALYTICS_FLUSH_INTERVAL", 10)  # buffered → database
    ANALYTICS_ROLLUP_INTERVAL = env_int("ANALYTICS_ROLLUP_INTERVAL", 3600)  # daily counts
    ANALYTICS_RETENTION_DAYS = env_int("ANALYTICS_RETENTION_DAYS", 90)  # raw events kept
    # Reach: a round reads the follower count of each account without one for today (UTC), so
    # a count is kept once a day however often it runs; shorter retries the ones that failed.
    REACH_INTERVAL = env_int("REACH_INTERVAL", 3600)
    LOCAL_STORAGE_ROOT = os.environ.get("LOCAL_STORAGE_ROOT", str(INSTANCE_DIR / "storage"))
    LOCAL_STORAGE_URL = "/media"

    MAX_CONTENT_LENGTH = env_int("MAX_CONTENT_LENGTH", 25 * 1024 * 1024)
    MAX_IMAGE_PIXELS = env_int("MAX_IMAGE_PIXELS", 50_000_000)

    # Images: what one person may upload, and what one job may decode.
    # Flask-Limiter string, counted per signed-in user (web and API together); 429 beyond it.
    UPLOAD_RATE_LIMIT = os.environ.get("UPLOAD_RATE_LIMIT", "30 per hour; 10 per minute")
    # Originals plus every file made from them, per user; 0 turns the quota off. 413 beyond it.
    STORAGE_QUOTA_MB = env_int("STORAGE_QUOTA_MB", 500)
    # Peak memory one image may take to process, estimated from its header (pixels × decoded
    # bytes per pixel + a working copy); larger images are refused with a reason, upload and job.
    IMAGE_MEMORY_BUDGET_MB = env_int("IMAGE_MEMORY_BUDGET_MB", 512)
    # The orphan sweep leaves files younger than this alone (an upload may still be committing).
    ORPHAN_GRACE_SECONDS = env_int("ORPHAN_GRACE_SECONDS", 86400)
    SWEEP_INTERVAL = env_int("SWEEP_INTERVAL", 6 * 3600)  # orphan files and stale sessions

    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or REDIS_URL or "memory://"
    RATELIMIT_HEADERS_ENABLED = True

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    # Accounts: mail, links, throttling, remember-me.
    # Absolute links in mails use PUBLIC_URL (e.g. https://linkarooie.example), not the Host header.
    PUBLIC_URL = os.environ.get("PUBLIC_URL") or None
    MAIL_SERVER = os.environ.get("MAIL_SERVER") or None  # unset: mails go to instance/mail/*.eml
    MAIL_PORT = env_int("MAIL_PORT", 587)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    MAIL_USE_TLS = env_bool("MAIL_USE_TLS", True)  # STARTTLS on MAIL_PORT
    MAIL_USE_SSL = env_bool("MAIL_USE_SSL", False)  # implicit TLS (usually port 465)
    MAIL_TIMEOUT = env_int("MAIL_TIMEOUT", 20)
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Linkarooie <no-reply@localhost>")
    REMEMBER_COOKIE_DURATION = timedelta(days=env_int("REMEMBER_COOKIE_DAYS", 30))
    # Flask-Limiter strings ("10 per minute; 50 per hour"); counted per client IP unless noted.
    SIGN_IN_RATE_LIMIT = os.environ.get("SIGN_IN_RATE_LIMIT", "20 per minute; 100 per hour")
    SIGN_IN_ACCOUNT_RATE_LIMIT = os.environ.get("SIGN_IN_ACCOUNT_RATE_LIMIT", "10 per 15 minutes")
    SIGN_UP_RATE_LIMIT = os.environ.get("SIGN_UP_RATE_LIMIT", "10 per hour")
    EMAIL_RATE_LIMIT = os.environ.get("EMAIL_RATE_LIMIT", "5 per 15 minutes")
    API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "1000 per minute")  # per API token

    # Account takeover defences (accounts): key rotation, re-authentication, token-guess limits.
    # Old SECRET_KEY values, comma-separated, newest first: cookies and email links they signed
    # still verify after a rotation; everything new is signed with SECRET_KEY.
    SECRET_KEY_FALLBACKS = os.environ.get("SECRET_KEY_FALLBACKS", "")
    # Minutes a password (or provider) sign-in counts as "just now" for sensitive changes:
    # creating API tokens, linking a provider, changing the email or setting a password.
    REAUTH_MINUTES = env_int("REAUTH_MINUTES", 10)
    # Failed API token attempts per client address (a bad token never gets its own bucket).
    API_AUTH_FAILURE_RATE_LIMIT = os.environ.get("API_AUTH_FAILURE_RATE_LIMIT", "20 per minute")

    # OAuth sign-in: a provider's button appears only when its client id is set.
    GOOGLE_CLIENT_ID = os.environ.get("GOOGLE_CLIENT_ID") or None
    GOOGLE_CLIENT_SECRET = os.environ.get("GOOGLE_CLIENT_SECRET") or None
    GOOGLE_DISCOVERY_URL = os.environ.get(
        "GOOGLE_DISCOVERY_URL", "https://accounts.google.com/.well-known/openid-configuration"
    )
    GITHUB_CLIENT_ID = os.environ.get("GITHUB_CLIENT_ID") or None
    GITHUB_CLIENT_SECRET = os.environ.get("GITHUB_CLIENT_SECRET") or None
    GITHUB_AUTHORIZE_URL = os.environ.get(
        "GITHUB_AUTHORIZE_URL", "https://github.com/login/oauth/authorize"
    )
    GITHUB_TOKEN_URL = os.environ.get(
        "GITHUB_TOKEN_URL", "https://github.com/login/oauth/access_token"
    )
    GITHUB_API_BASE_URL = os.environ.get("GITHUB_API_BASE_URL", "https://api.github.com/")
    FACEBOOK_CLIENT_ID = os.environ.get("FACEBOOK_CLIENT_ID") or None
    FACEBOOK_CLIENT_SECRET = os.environ.get("FACEBOOK_CLIENT_SECRET") or None
    FACEBOOK_AUTHORIZE_URL = os.environ.get(
        "FACEBOOK_AUTHORIZE_URL", "https://www.facebook.com/v19.0/dialog/oauth"
    )
    FACEBOOK_TOKEN_URL = os.environ.get(
        "FACEBOOK_TOKEN_URL", "https://graph.facebook.com/v19.0/oauth/access_token"
    )
    FACEBOOK_API_BASE_URL = os.environ.get(
        "FACEBOOK_API_BASE_URL", "https://graph.facebook.com/v19.0/"
    )
    OAUTH_HTTP_TIMEOUT = env_int("OAUTH_HTTP_TIMEOUT", 10)  # seconds, for each call to a provider

    # Platforms and sync.
    # Versioned keys for tokens and app passwords at rest: "2:<key>,1:<key>" (the highest version
    # encrypts; `flask rotate-token-keys` moves every row to it). Generate one with
    # `flask generate-token-key`. Unset: the embedded default keeps one in instance/.
    TOKEN_ENCRYPTION_KEYS = os.environ.get("TOKEN_ENCRYPTION_KEYS") or None
    # Lets instance/PDS URLs be http:// or private/loopback addresses: development and tests
    # only (a local Mastodon); refused in production, where it would open an SSRF hole.
    ALLOW_INSECURE_PLATFORM_URLS = env_bool("ALLOW_INSECURE_PLATFORM_URLS")
    # Where did:plc identities are resolved to find a Bluesky account's PDS.
    BLUESKY_PLC_URL = os.environ.get("BLUESKY_PLC_URL", "https://plc.directory")
    PLATFORM_HTTP_TIMEOUT = env_int("PLATFORM_HTTP_TIMEOUT", 20)  # seconds per platform call
    # Deleting an account gives platform tokens back without waiting on a slow platform: each
    # revocation call waits at most this long (a failure is noted in the audit log).
    ACCOUNT_DELETION_REVOKE_TIMEOUT = env_float("ACCOUNT_DELETION_REVOKE_TIMEOUT", 5)
    # Gravatar: one app registered by the site operator; sign-in happens at WordPress.com.
    # Without a client id the Gravatar card says it is not configured.
    GRAVATAR_CLIENT_ID = os.environ.get("GRAVATAR_CLIENT_ID") or None
    GRAVATAR_CLIENT_SECRET = os.environ.get("GRAVATAR_CLIENT_SECRET") or None
    GRAVATAR_AUTH_BASE_URL = os.environ.get(
        "GRAVATAR_AUTH_BASE_URL", "https://public-api.wordpress.com"
    )
    GRAVATAR_API_BASE_URL = os.environ.get("GRAVATAR_API_BASE_URL", "https://api.gravatar.com")
    # YouTube (the channel banner): one Google Cloud OAuth client of the site operator, with the
    # YouTube Data API v3 enabled. Without a client id the YouTube card says it is not configured.
    YOUTUBE_CLIENT_ID = os.environ.get("YOUTUBE_CLIENT_ID") or None
    YOUTUBE_CLIENT_SECRET = os.environ.get("YOUTUBE_CLIENT_SECRET") or None
    YOUTUBE_AUTH_BASE_URL = os.environ.get("YOUTUBE_AUTH_BASE_URL", "https://accounts.google.com")
    YOUTUBE_API_BASE_URL = os.environ.get("YOUTUBE_API_BASE_URL", "https://www.googleapis.com")
    # X: the consumer key and secret of an X app with "Read and write" permission (OAuth 1.0a);
    # X is offered only when both are set.
    X_CLIENT_ID = os.environ.get("X_CLIENT_ID") or None
    X_CLIENT_SECRET = os.environ.get("X_CLIENT_SECRET") or None
    X_API_BASE_URL = os.environ.get("X_API_BASE_URL", "https://api.x.com")
    X_AUTH_BASE_URL = os.environ.get("X_AUTH_BASE_URL", "https://api.x.com")
    # Facebook Pages: one Meta app (Facebook Login) registered by the site operator, separate
    # from the "Sign in with Facebook" app above; offered only with a client id.
    FACEBOOK_PAGES_CLIENT_ID = os.environ.get("FACEBOOK_PAGES_CLIENT_ID") or None
    FACEBOOK_PAGES_CLIENT_SECRET = os.environ.get("FACEBOOK_PAGES_CLIENT_SECRET") or None
    FACEBOOK_PAGES_AUTH_BASE_URL = os.environ.get(
        "FACEBOOK_PAGES_AUTH_BASE_URL", "https://www.facebook.com"
    )
    FACEBOOK_PAGES_API_BASE_URL = os.environ.get(
        "FACEBOOK_PAGES_API_BASE_URL", "https://graph.facebook.com"
    )
    # A failed push is retried after SYNC_RETRY_BASE seconds, doubling with jitter up to
    # SYNC_RETRY_MAX (or at the platform's rate-limit reset), SYNC_MAX_ATTEMPTS times in all.
    SYNC_MAX_ATTEMPTS = env_int("SYNC_MAX_ATTEMPTS", 6)
    SYNC_RETRY_BASE = env_int("SYNC_RETRY_BASE", 30)
    SYNC_RETRY_MAX = env_int("SYNC_RETRY_MAX", 3600)
    # A 429 is the platform pacing us: up to this many of them do not count as failed tries.
    SYNC_RATE_LIMIT_WAITS = env_int("SYNC_RATE_LIMIT_WAITS", 20)
    # How long one push may hold its account before another worker may take over (a worker
    # killed mid-push frees it this way); keep it above a push's worst case.
    SYNC_LEASE_SECONDS = env_int("SYNC_LEASE_SECONDS", 120)
    # Every TOKEN_REFRESH_INTERVAL seconds, tokens that end within TOKEN_REFRESH_AHEAD seconds
    # are renewed (where the platform allows it) or their accounts marked for reconnecting.
    # Keep AHEAD above INTERVAL so every token gets at least one try before it ends.
    TOKEN_REFRESH_INTERVAL = env_int("TOKEN_REFRESH_INTERVAL", 300)
    TOKEN_REFRESH_AHEAD = env_int("TOKEN_REFRESH_AHEAD", 900)
    # Every DRIFT_WATCH_INTERVAL seconds, the drift watch reads back the pictures of the accounts
    # whose owner's frequency (off / daily / hourly, in sync preferences) makes them due.
    DRIFT_WATCH_INTERVAL = env_int("DRIFT_WATCH_INTERVAL", 300)
    # How often scheduled looks that are due are looked for: the catch-up after downtime (or a
    # lost delayed job), so a schedule runs at most this late once everything is back.
    SCHEDULE_SWEEP_INTERVAL = env_int("SCHEDULE_SWEEP_INTERVAL", 60)
    # Webhooks: a failed delivery is tried again after each of WEBHOOK_RETRY_DELAYS (seconds,
    # comma-separated; the last repeats) until WEBHOOK_GIVE_UP_AFTER seconds after its first
    # attempt; an endpoint failing that long is disabled. The sweep every WEBHOOK_SWEEP_INTERVAL
    # seconds sends what is due (the catch-up for lost delayed jobs).
    WEBHOOK_RETRY_DELAYS = os.environ.get("WEBHOOK_RETRY_DELAYS", "5,300,1800,7200,18000,36000")
    WEBHOOK_GIVE_UP_AFTER = env_int("WEBHOOK_GIVE_UP_AFTER", 24 * 3600)
    WEBHOOK_SWEEP_INTERVAL = env_int("WEBHOOK_SWEEP_INTERVAL", 60)
    WEBHOOK_TIMEOUT = env_float("WEBHOOK_TIMEOUT", 10)  # seconds per delivery attempt
    # Data exports (Settings → Your data): a ready zip can be downloaded for
    # EXPORT_RETENTION_DAYS days; the sweep every EXPORT_SWEEP_INTERVAL seconds deletes the
    # expired ones. The zip is built in a temporary file (TMPDIR), never in memory.
    EXPORT_RETENTION_DAYS = env_int("EXPORT_RETENTION_DAYS", 7)
    EXPORT_SWEEP_INTERVAL = env_int("EXPORT_SWEEP_INTERVAL", 3600)

    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    # The bearer token Prometheus scrapes GET /metrics with (signed-in admins need none); unset,
    # only admins can read it. Any long random string, e.g. `openssl rand -hex 32`.
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None
    PREFERRED_URL_SCHEME = "http"

    # The edge. TRUSTED_PROXY_COUNT: how many reverse proxies stand in front of the app and
    # append to X-Forwarded-For/-Proto (Heroku's router is one). 0 trusts no forwarded header,
    # so a client cannot pick its own address for rate limits and audit IP hashes; a wrong
    # count above the real one lets it. TRUSTED_HOSTS (comma-separated): the Host headers
    # answered; anything else is a 400. In production it defaults to PUBLIC_URL's host.
    TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
    TRUSTED_HOSTS = env_list("TRUSTED_HOSTS")


class ProductionConfig(Config):
    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"
    TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1)


def production_problems(config: Mapping[str, Any]) -> list[str]:
    """One line per setting production cannot run without (empty when all is well).

    Production has no embedded fallbacks: a lost SECRET_KEY would sign everyone out, SQLite and
    the in-process worker do not survive a dyno restart, and links built from the Host header
    could point a reset mail at an attacker's domain.
    """
    problems = []
    if not config.get("SECRET_KEY"):
        problems.append("SECRET_KEY is not set (a long random string; keep it stable)")
    public_url = urlsplit(config.get("PUBLIC_URL") or "")
    if public_url.scheme not in {"http", "https"} or not public_url.hostname:
        problems.append(
            "PUBLIC_URL is not set to the site's address (e.g. https://linkarooie.example); "
            "links in mails and OAuth redirects are built from it"
        )
    if not str(config.get("SQLALCHEMY_DATABASE_URI") or "").startswith("postgresql"):
        problems.append("DATABASE_URL is not a PostgreSQL URL (postgres://...)")
    if not config.get("REDIS_URL"):
        problems.append("REDIS_URL is not set (jobs and rate limits live in Redis)")
    if not config.get("S3_BUCKET"):
        problems.append("S3_BUCKET is not set (images are stored in S3)")
    if not config.get("TOKEN_ENCRYPTION_KEYS"):
        problems.append(
            "TOKEN_ENCRYPTION_KEYS is not set (platform tokens are encrypted with it; "
            "generate one with `flask generate-token-key`)"
        )
    if config.get("ALLOW_INSECURE_PLATFORM_URLS"):
        problems.append(
            "ALLOW_INSECURE_PLATFORM_URLS is on: it lets people point the app at private "
            "addresses (development and tests only)"
        )
    return problems


def public_host(public_url: str) -> str:
    """The host name PUBLIC_URL's visitors send in their Host header (Flask ignores the port)."""
    return urlsplit(public_url).hostname or ""


def config_from_env() -> type[Config]:
    return ProductionConfig if os.environ.get("APP_ENV") == "production" else Config
