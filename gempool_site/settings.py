"""Django settings for gempool. Every knob comes from the environment (see README, .env.example)."""
from __future__ import annotations

from pathlib import Path

from corsheaders.defaults import default_headers as default_cors_headers
from django.utils.csp import CSP

from gemini_enterprise.types import UPSTREAM_CLIENTS
from gempool_site.cpus import available_cpus
from gempool_site.env import (
    LOG_LEVELS,
    database_from_url,
    env_bool,
    env_choice,
    env_extra_bind,
    env_float,
    env_int,
    env_list,
    env_rate,
    env_renamed,
    env_str,
    env_timezone,
    env_url,
    persistent_secret_key,
    sqlite_database,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("GEMPOOL_DATA_DIR", str(BASE_DIR / "data"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env_str("DJANGO_SECRET_KEY") or persistent_secret_key(DATA_DIR)
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "gempool_site.apps.GempoolAdminConfig",  # Django's admin with the throttled sign-in
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "accounts",
    "models_catalog",
    "files_app",
    "openai_api",
    "anthropic_api",
    "logins",
    "console",
    "metering",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "metering.middleware.MetricsMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Django's session, CSRF, auth and messages middleware, standing aside on the API-key routes under /v1.
    "gempool_site.session_middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "gempool_site.session_middleware.CsrfViewMiddleware",
    "gempool_site.session_middleware.AuthenticationMiddleware",
    "gempool_site.session_middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "gempool_site.security.PermissionsPolicyMiddleware",
    "gempool_site.middleware.ApiErrorMiddleware",
]

ROOT_URLCONF = "gempool_site.urls"
WSGI_APPLICATION = "gempool_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_database_url = env_str("DATABASE_URL")
DATABASES = {
    "default": database_from_url("DATABASE_URL", _database_url) if _database_url
    else sqlite_database(DATA_DIR / "gempool.sqlite3"),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    env_url("REDIS_URL", REDIS_URL, schemes=("redis", "rediss", "unix"))
    CACHES = {
        "default": {
            "BACKEND": "gempool_site.redis_cache.ProcessSharedRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("GEMPOOL_CACHE_PREFIX", "gempool"),
        },
    }
elif env_int("GEMPOOL_WORKERS", available_cpus(), minimum=1) > 1:
    # Several worker processes must share rate limits, JWTs and locks: one SQLite file they all open.
    CACHES = {"default": {"BACKEND": "gempool_site.sqlite_cache.SQLiteCache",
                          "LOCATION": str(DATA_DIR / "cache.sqlite3")}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "gempool"}}

# Django's default hashers, PBKDF2 first but run off the gevent event loop (see gempool_site.password_hashing).
PASSWORD_HASHERS = [
    "gempool_site.password_hashing.OffLoopPBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# Failed sign-ins (console and admin) allowed per address and per user name + address, and the long
# per-user-name backstop (see gempool_site.login_throttle).
GEMPOOL_LOGIN_RATE = env_rate("GEMPOOL_LOGIN_RATE", "10/min")
GEMPOOL_LOGIN_USER_BACKSTOP = env_rate("GEMPOOL_LOGIN_USER_BACKSTOP", "50/day")
# Peers whose X-Forwarded-* headers are believed (gunicorn reads the same variable): the reverse proxy.
GEMPOOL_FORWARDED_ALLOW_IPS = env_list("GEMPOOL_FORWARDED_ALLOW_IPS", ["127.0.0.1"])

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every start when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Console assets are served by the app itself (no CDN, no separate web server needed).
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve straight from the app folders: no collectstatic step to forget

# Request bodies: uploads are checked against GEMPOOL_MAX_UPLOAD_MB by the files API itself;
# this outer cap only protects the process from absurd bodies (a data: URI inflates by 4/3).
GEMPOOL_MAX_UPLOAD_BYTES = env_int("GEMPOOL_MAX_UPLOAD_MB", 20, minimum=1, maximum=512) * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = GEMPOOL_MAX_UPLOAD_BYTES * 2 + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None
# A request body must arrive within this many seconds, plus one per GEMPOOL_BODY_MIN_RATE_KB KiB (else 408).
GEMPOOL_BODY_TIMEOUT = env_float("GEMPOOL_BODY_TIMEOUT", 30.0, minimum=1, maximum=3600)
GEMPOOL_BODY_MIN_RATE_KB = env_int("GEMPOOL_BODY_MIN_RATE_KB", 64, minimum=1)
GEMPOOL_IMPORT_MAX_BYTES = env_int("GEMPOOL_IMPORT_MAX_MB", 5, minimum=1, maximum=100) * 1024 * 1024
# Accounts per import through /api (the command may allow more with --max-accounts): bounds the work one
# request can ask for, which runs off the event loop but still holds a worker thread and one transaction.
GEMPOOL_IMPORT_MAX_ACCOUNTS = env_int("GEMPOOL_IMPORT_MAX_ACCOUNTS", 10_000, minimum=1, maximum=1_000_000)

# Upstream.
GEMPOOL_AUTH_URL = env_url("GEMPOOL_AUTH_URL", "https://business.gemini.google")
GEMPOOL_API_URL = env_url("GEMPOOL_API_URL", "https://biz-discoveryengine.googleapis.com")
GEMPOOL_VERIFY_TLS = env_bool("GEMPOOL_VERIFY_TLS", True)
# What POST /api/proxy/test fetches through the proxy (never a URL the caller picks, never directly).
GEMPOOL_PROXY_TEST_URL = env_url("GEMPOOL_PROXY_TEST_URL", GEMPOOL_AUTH_URL)
# Proxy hosts follow the image-URL address policy (no internal addresses) unless the operator allows them,
# e.g. for a proxy on the same host or LAN. Cloud metadata addresses stay refused either way.
GEMPOOL_PROXY_ALLOW_PRIVATE = env_bool("GEMPOOL_PROXY_ALLOW_PRIVATE", False)
GEMPOOL_CONNECT_TIMEOUT = env_float("GEMPOOL_CONNECT_TIMEOUT", 10.0, minimum=0.1, maximum=120)
GEMPOOL_READ_TIMEOUT = env_float("GEMPOOL_READ_TIMEOUT", 300.0, minimum=1, maximum=1800)
GEMPOOL_JWT_REFRESH_AFTER = env_float("GEMPOOL_JWT_REFRESH_AFTER", 240.0, minimum=10, maximum=290)
# Kept-alive upstream connections per process (per proxy): size it like the concurrent streams.
GEMPOOL_UPSTREAM_POOL_SIZE = env_int("GEMPOOL_UPSTREAM_POOL_SIZE", 1000, minimum=1)
# Direct upstream calls over the lean HTTP/1.1 client (gemini_enterprise/http11.py) or over requests, as
# proxied calls always go; "requests" is there to rule the lean client out when chasing a problem.
GEMPOOL_UPSTREAM_CLIENT = env_choice("GEMPOOL_UPSTREAM_CLIENT", "lean", UPSTREAM_CLIENTS)
GEMPOOL_UPSTREAM_LANGUAGE = env_str("GEMPOOL_UPSTREAM_LANGUAGE", "en-US")
GEMPOOL_UPSTREAM_TIME_ZONE = env_str("GEMPOOL_UPSTREAM_TIME_ZONE", "UTC")

# Chat behaviour.
GEMPOOL_MAX_ATTEMPTS = env_int("GEMPOOL_MAX_ATTEMPTS", 3, minimum=1, maximum=20)
GEMPOOL_FAILOVER_DEADLINE = env_float("GEMPOOL_FAILOVER_DEADLINE", 60.0, minimum=1, maximum=600)
# One session per account created ahead of its next request (0 turns it off); older spares are not used.
GEMPOOL_SPARE_SESSION_MAX_AGE = env_float("GEMPOOL_SPARE_SESSION_MAX_AGE", 300.0, minimum=0, maximum=3600)
GEMPOOL_KEEPALIVE_SECONDS = env_float("GEMPOOL_KEEPALIVE_SECONDS", 15.0, minimum=0.05, maximum=120)
# How long a worker keeps the rows every request reads (API keys, models, pool settings) before reading them
# again; an edit made in another process is seen within this time (gempool_site.hot_rows). 0: every request.
GEMPOOL_HOT_ROWS_SECONDS = env_float("GEMPOOL_HOT_ROWS_SECONDS", 1.0, minimum=0, maximum=60)
# Images the upstream lists late (generation can outlive the answer): how long /v1/images waits for them per
# account, polling the session's generated files every GEMPOOL_IMAGE_POLL_INTERVAL seconds.
GEMPOOL_IMAGE_WAIT_SECONDS = env_float("GEMPOOL_IMAGE_WAIT_SECONDS", 60.0, minimum=0, maximum=600)
GEMPOOL_IMAGE_POLL_INTERVAL = env_float("GEMPOOL_IMAGE_POLL_INTERVAL", 2.0, minimum=0.05, maximum=60)
GEMPOOL_MEDIA_RETENTION_HOURS = env_float("GEMPOOL_MEDIA_RETENTION_HOURS", 72.0, minimum=0.01)
GEMPOOL_URL_FETCH_TIMEOUT = env_float("GEMPOOL_URL_FETCH_TIMEOUT", 15.0, minimum=1, maximum=120)
# Client-supplied image URLs may never reach internal addresses; only a lab setup (or the tests, which
# serve images on loopback) turns this on. Cloud metadata addresses stay refused either way.
GEMPOOL_URL_FETCH_ALLOW_PRIVATE = env_bool("GEMPOOL_URL_FETCH_ALLOW_PRIVATE", False)
# Images and files one chat request may carry (each becomes a stored file and an upstream upload).
GEMPOOL_MAX_ATTACHMENTS_PER_MESSAGE = env_int("GEMPOOL_MAX_ATTACHMENTS_PER_MESSAGE", 16, minimum=1, maximum=1000)
GEMPOOL_MAX_ATTACHMENTS_PER_REQUEST = env_int("GEMPOOL_MAX_ATTACHMENTS_PER_REQUEST", 32, minimum=1, maximum=1000)
GEMPOOL_RATE_LIMIT_PER_MINUTE = env_int("GEMPOOL_RATE_LIMIT_PER_MINUTE", 0, minimum=0)
# The quota day: key budgets and account quotas start again at this hour in this zone (gempool_site.quota_day).
# Gemini Business resets its daily quotas at midnight Pacific time.
GEMPOOL_QUOTA_RESET_HOUR = env_int("GEMPOOL_QUOTA_RESET_HOUR", 0, minimum=0, maximum=23)
GEMPOOL_QUOTA_TIMEZONE = env_timezone("GEMPOOL_QUOTA_TIMEZONE", "America/Los_Angeles")
# How long a key's concurrency slot lives without a sign of life from its request (a crashed worker's slot
# frees itself after this); a running request renews it (accounts.key_limits).
GEMPOOL_KEY_SLOT_TTL_SECONDS = env_int("GEMPOOL_KEY_SLOT_TTL_SECONDS", 120, minimum=10, maximum=3600)
# Expected life of a login whose cookies carry no expiry of their own (Gemini Business: about 12 h).
GEMPOOL_LOGIN_LIFETIME_HOURS = env_float("GEMPOOL_LOGIN_LIFETIME_HOURS", 12.0, minimum=0.01, maximum=24 * 365)
GEMPOOL_REQUEST_LOG_RETENTION_DAYS = env_int("GEMPOOL_REQUEST_LOG_RETENTION_DAYS", 7, minimum=1)
# Keep the start of each request's last user message in the request log (off: no prompt text is stored).
GEMPOOL_LOG_PROMPTS = env_bool("GEMPOOL_LOG_PROMPTS", False)
# How long a worker collects finished requests' log rows, usage and success counts before writing them in one
# transaction (metering.record_writer); 0 writes each request's as it ends.
GEMPOOL_RECORD_BATCH_SECONDS = env_float("GEMPOOL_RECORD_BATCH_SECONDS", 0.25, minimum=0, maximum=60)
# The hourly rollup (metering.UsageHour) behind the dashboard's 24 h, 7 d and 30 d ranges: at least 31 days,
# so the 30-day range (31 days with its current partial slot) always has its data.
GEMPOOL_USAGE_HOUR_RETENTION_DAYS = env_int("GEMPOOL_USAGE_HOUR_RETENTION_DAYS", 35, minimum=31)
# A second listener that serves only /metrics, without credentials (keep it on a private address).
GEMPOOL_METRICS_BIND = env_extra_bind("GEMPOOL_METRICS_BIND", main_bind=env_str("GEMPOOL_BIND", "127.0.0.1:8000"))
# Retention of the request log and media runs at most this often (seconds) across every process, after a
# response; 0 leaves it to `manage.py housekeeping` (cron).
GEMPOOL_HOUSEKEEPING_INTERVAL = env_float("GEMPOOL_HOUSEKEEPING_INTERVAL", 600.0, minimum=0)
env_renamed("GEMPOOL_MEDIA_PRUNE_INTERVAL", "GEMPOOL_HOUSEKEEPING_INTERVAL")
# Stored Responses API answers (GET /v1/responses/{id}, previous_response_id); OpenAI keeps them 30 days.
GEMPOOL_RESPONSE_RETENTION_DAYS = env_int("GEMPOOL_RESPONSE_RETENTION_DAYS", 30, minimum=1)

# Re-login of expiring accounts (the refreshworker command; README "Keeping logins fresh").
# The three login hosts, like the API hosts, so the worker can be pointed at the simulator.
GEMPOOL_LOGIN_AUTH_URL = env_url("GEMPOOL_LOGIN_AUTH_URL", "https://auth.business.gemini.google")
GEMPOOL_LOGIN_VERIFY_URL = env_url("GEMPOOL_LOGIN_VERIFY_URL", "https://accountverification.business.gemini.google")
GEMPOOL_LOGIN_BUSINESS_URL = env_url("GEMPOOL_LOGIN_BUSINESS_URL", "https://business.gemini.google")
# The flow's URLs, selectors and texts: blank = the built-in logins/flow.json; a path = that file instead.
GEMPOOL_LOGIN_FLOW_FILE = env_str("GEMPOOL_LOGIN_FLOW_FILE", "")
GEMPOOL_LOGIN_EMAIL_SUBMIT = env_choice("GEMPOOL_LOGIN_EMAIL_SUBMIT", "url", ("url", "form"))
GEMPOOL_REFRESH_WINDOW_MINUTES = env_float("GEMPOOL_REFRESH_WINDOW_MINUTES", 60.0, minimum=0)
GEMPOOL_REFRESH_BROWSERS = env_int("GEMPOOL_REFRESH_BROWSERS", 1, minimum=1, maximum=32)
GEMPOOL_REFRESH_HEADLESS = env_bool("GEMPOOL_REFRESH_HEADLESS", True)
GEMPOOL_REFRESH_CHROMIUM = env_str("GEMPOOL_REFRESH_CHROMIUM", "/usr/bin/chromium")
GEMPOOL_REFRESH_POLL_SECONDS = env_float("GEMPOOL_REFRESH_POLL_SECONDS", 30.0, minimum=0.1, maximum=3600)
GEMPOOL_REFRESH_BACKOFF_SECONDS = env_float("GEMPOOL_REFRESH_BACKOFF_SECONDS", 300.0, minimum=1)
GEMPOOL_REFRESH_BACKOFF_MAX_SECONDS = env_float("GEMPOOL_REFRESH_BACKOFF_MAX_SECONDS", 21600.0, minimum=1)
# A claimed account is left alone by other workers this long; a crashed worker's claim runs out after it.
GEMPOOL_REFRESH_CLAIM_SECONDS = env_float("GEMPOOL_REFRESH_CLAIM_SECONDS", 900.0, minimum=10)
GEMPOOL_REFRESH_JOB_RETENTION_DAYS = env_int("GEMPOOL_REFRESH_JOB_RETENTION_DAYS", 14, minimum=1)
GEMPOOL_MAILBOX_TIMEOUT = env_float("GEMPOOL_MAILBOX_TIMEOUT", 20.0, minimum=1, maximum=300)
# Extra CA certificates (PEM) trusted for IMAP servers, e.g. a self-hosted mail server's private CA.
GEMPOOL_MAILBOX_CA_FILE = env_str("GEMPOOL_MAILBOX_CA_FILE", "")
# Microsoft's OAuth token endpoint; {tenant} is the mailbox's tenant (consumers, organizations or an id).
GEMPOOL_MS_TOKEN_URL = env_url("GEMPOOL_MS_TOKEN_URL",
                               "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token")

# CORS applies to the OpenAI-compatible API only; the management API is same-origin.
CORS_URLS_REGEX = r"^/(v1/|image/|health$)"
CORS_ALLOWED_ORIGINS = [o for o in env_list("GEMPOOL_CORS_ORIGINS", ["*"]) if o != "*"]
CORS_ALLOW_ALL_ORIGINS = env_list("GEMPOOL_CORS_ORIGINS", ["*"]) == ["*"]
CORS_ALLOW_CREDENTIALS = False
# Browser clients of the Anthropic face send its key and version headers (the SDK's browser mode adds the last).
CORS_ALLOW_HEADERS = (*default_cors_headers, "x-api-key", "anthropic-version", "anthropic-beta",
                      "anthropic-dangerous-direct-browser-access")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "gempool_site.auth.AdminTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["gempool_site.auth.HasModelPermissions"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "gempool_site.parsers.StrictJSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "EXCEPTION_HANDLER": "gempool_site.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "gempool API",
    "DESCRIPTION": "OpenAI-compatible gateway over a pool of Gemini Enterprise accounts",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema describes the management API too: only operators may read it.
    "SERVE_PERMISSIONS": ["gempool_site.auth.IsStaff"],
    "SERVE_AUTHENTICATION": ["rest_framework.authentication.SessionAuthentication",
                             "gempool_site.auth.AdminTokenAuthentication"],
}

# Security headers; HSTS only matters once served over TLS (behind a terminating proxy set
# GEMPOOL_BEHIND_TLS_PROXY so Django trusts X-Forwarded-Proto).
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
# The console reads the token from the page (meta tag, form field), so scripts never need the cookie.
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SAMESITE = "Lax"
if env_bool("GEMPOOL_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("GEMPOOL_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = False
# The console's policy (gempool_site/security.py says why); the admin is exempt (gempool_site/urls.py).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "gempool_site.logging.RedactSecretsFilter"}},
    "formatters": {"plain": {"()": "gempool_site.logging.ContextFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": env_choice("GEMPOOL_LOG_LEVEL", "info", LOG_LEVELS).upper()},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}
