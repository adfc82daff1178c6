"""Gatehouse settings: everything comes from the environment, with safe local defaults (SQLite, debug on).

Production opts in explicitly: DJANGO_DEBUG=0 plus a real DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS and
GATEHOUSE_ISSUER (see docs/deployment.md, "Security settings").
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from clients import limits
from config.env import env_bool, env_int, env_list, env_networks, env_str, log_format

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", True)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG=0")
    SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105 - debug only, refused above otherwise

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "clients",
    "tokens",
    "api",
    "portal",
]

MIDDLEWARE = [
    "ops.middleware.OpsMiddleware",  # probes, /metrics, request ids, access log: first, see its docstring
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.sessions.StaffSessionMiddleware",
    "portal.middleware.PortalSecurityMiddleware",
    "config.middleware.LazyMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns an admin lockout into a 429 page
]

# django-axes in front of the model backend: admin logins lock out after repeated failures (docs/security.md).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

# Database: DATABASE_URL, else a SQLite file next to manage.py. Connections are kept open between requests
# (the token path is one statement; a reconnect would cost more than the statement). A broken connection is
# dropped at the end of the request that saw the error, so the server recovers when the database returns.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",  # empty: the default, as for the rest
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600, minimum=0),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 3, minimum=1))
    # Parameters bound by the server (extended protocol) instead of psycopg's client-side quoting: measured 2-5x
    # less time for the token and introspection statements (docs/decisions.md).
    DATABASES["default"]["OPTIONS"].setdefault("server_side_binding", env_bool("DATABASE_SERVER_SIDE_BINDING", True))
    # A statement run this many times on a connection is prepared: PostgreSQL then skips parsing and planning,
    # which cost about as much as executing the token and introspection joins. 0 turns preparing off (PgBouncer
    # before 1.21 in transaction mode cannot keep prepared statements; docs/deployment.md).
    _prepare_threshold = env_int("DATABASE_PREPARE_THRESHOLD", 2, minimum=0)
    DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", _prepare_threshold or None)
    # A connection to a database that vanished without closing it (network partition) fails within about
    # DATABASE_TCP_TIMEOUT seconds instead of the kernel's minutes: unacknowledged data and silent keepalives.
    _tcp_timeout = env_int("DATABASE_TCP_TIMEOUT", 10, minimum=1)
    for _name, _value in {
        "keepalives": 1,
        "keepalives_idle": _tcp_timeout,
        "keepalives_interval": 1,
        "keepalives_count": 3,
        "tcp_user_timeout": _tcp_timeout * 1000,
    }.items():
        DATABASES["default"]["OPTIONS"].setdefault(_name, _value)
    # Behind PgBouncer in transaction mode a cursor cannot outlive its transaction (docs/deployment.md).
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env_bool("DATABASE_DISABLE_SERVER_SIDE_CURSORS", False)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 5,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

# Read replicas (docs/replicas.md): DATABASE_REPLICA_URLS, comma-separated streaming replicas of the primary, become
# the aliases replica_0, replica_1, ... with the primary's connection options. Only introspection reads them
# (tokens/replicas.py). Under pytest each mirrors the test database: same name, on the replica's server.
_REPLICA_URLS = env_list("DATABASE_REPLICA_URLS", [])
if _REPLICA_URLS and DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_REPLICA_URLS needs DATABASE_URL to be PostgreSQL")
for _i, _url in enumerate(_REPLICA_URLS):
    _replica = dj_database_url.parse(_url, conn_max_age=DATABASES["default"]["CONN_MAX_AGE"])
    if _replica["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(f"DATABASE_REPLICA_URLS must be postgres:// URLs, got a {_replica['ENGINE']} one")
    _replica["OPTIONS"] = {**DATABASES["default"]["OPTIONS"], **_replica.get("OPTIONS", {})}
    _replica["DISABLE_SERVER_SIDE_CURSORS"] = DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"]
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES[f"replica_{_i}"] = _replica
# How often each process re-reads the replicas' shared state (tokens.models.ReplicaState) and measures their lag;
# a process uses a replica only while its last reading, at most this old, said "in". Writers wait twice this long
# after taking a replica out (the lease).
GATEHOUSE_REPLICA_REFRESH_MS = env_int("GATEHOUSE_REPLICA_REFRESH_MS", 250, minimum=10, maximum=10000)
GATEHOUSE_REPLICA_MAX_LAG_SECONDS = env_int("GATEHOUSE_REPLICA_MAX_LAG_SECONDS", 5, minimum=1, maximum=3600)
# How long an authority-reducing write waits for each replica in use to apply it before taking that replica out.
GATEHOUSE_REPLICA_WAIT_MS = env_int("GATEHOUSE_REPLICA_WAIT_MS", 1000, minimum=10, maximum=60000)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# One date format in the portal, with the time zone: "2026-11-29 20:44 UTC" (config/formats/en/formats.py).
FORMAT_MODULE_PATH = ["config.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Static files are collected at build time and served by WhiteNoise. Hashed, compressed names need the manifest
# that collectstatic writes, so by default they are used only once it exists (the container image); tests and
# development run without collectstatic. The image's build sets GATEHOUSE_STATIC_MANIFEST=1 to write it.
_STATIC_MANIFEST = env_bool("GATEHOUSE_STATIC_MANIFEST", not DEBUG and (STATIC_ROOT / "staticfiles.json").exists())
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if _STATIC_MANIFEST
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Files served at the site's root by WhiteNoise: /favicon.ico (browsers ask for it on every portal page).
WHITENOISE_ROOT = BASE_DIR / "public"
WHITENOISE_AUTOREFRESH = DEBUG  # fixed here: pytest-django turns settings.DEBUG off while tests run
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# HTTPS: on by default once debug is off; DJANGO_SECURE_SSL_REDIRECT=0 for loopback or a proxy that redirects.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_PROXY", False) else None
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = 0 if DEBUG else env_int("DJANGO_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG and env_bool("DJANGO_HSTS_PRELOAD", True)
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = ["security.W021"]  # preload is the operator's choice (DJANGO_HSTS_PRELOAD=0)
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The management API's OpenAPI schema (/api/schema/) and its docs page (/api/docs/), assets served locally.
SPECTACULAR_SETTINGS = {
    "TITLE": "Gatehouse management API",
    "DESCRIPTION": "Register clients, rotate their secrets, manage scopes and read the audit trail. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "PREPROCESSING_HOOKS": ["api.schema.management_api_only"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Clients and resource servers both have a `status`, with different values.
    "ENUM_NAME_OVERRIDES": {
        "ClientStatusEnum": ["active", "disabled"],
        "ResourceServerStatusEnum": ["active", "retired"],
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Gatehouse
# The issuer URL in metadata and introspection: never taken from the request's Host header, which the caller
# chooses. Required in production; while debugging, the address `make serve` listens on by default.
GATEHOUSE_ISSUER = env_str("GATEHOUSE_ISSUER").rstrip("/")
if not GATEHOUSE_ISSUER:
    if not DEBUG:
        raise ImproperlyConfigured("GATEHOUSE_ISSUER must be set when DJANGO_DEBUG=0, e.g. https://auth.example.com")
    GATEHOUSE_ISSUER = "http://127.0.0.1:8000"
if not GATEHOUSE_ISSUER.startswith(("https://", "http://")):
    raise ImproperlyConfigured(f"GATEHOUSE_ISSUER must be an https:// (or http://) URL, got {GATEHOUSE_ISSUER!r}")
GATEHOUSE_DEFAULT_TOKEN_TTL = env_int("GATEHOUSE_DEFAULT_TOKEN_TTL", 3600, minimum=1, maximum=limits.MAX_TOKEN_TTL)
# The longest grace a rotation may give the current secret(s): portal, command line and API alike (clients.models.grace).
GATEHOUSE_MAX_GRACE_SECONDS = env_int(
    "GATEHOUSE_MAX_GRACE_SECONDS",
    limits.DEFAULT_MAX_GRACE_SECONDS,
    minimum=0,
    maximum=limits.MAX_GRACE_SECONDS_CEILING,
)

# Public keys fetched from a client's jwks_uri or a trust's issuer (clients/jwks.py): HTTPS from public addresses
# only, no redirects, at most this many bytes and seconds, cached per process. GATEHOUSE_JWKS_ALLOW_LOOPBACK lets
# plain http://127.0.0.1 through, for the test suite's local issuer only: refused with debug off.
GATEHOUSE_JWKS_MAX_BYTES = env_int("GATEHOUSE_JWKS_MAX_BYTES", 65536, minimum=1024, maximum=1048576)
GATEHOUSE_JWKS_TIMEOUT = env_int("GATEHOUSE_JWKS_TIMEOUT", 5, minimum=1, maximum=30)
GATEHOUSE_JWKS_CACHE_SECONDS = env_int("GATEHOUSE_JWKS_CACHE_SECONDS", 300, minimum=0, maximum=86400)
GATEHOUSE_JWKS_MIN_REFRESH_SECONDS = env_int("GATEHOUSE_JWKS_MIN_REFRESH_SECONDS", 30, minimum=0, maximum=3600)
GATEHOUSE_JWKS_ALLOW_LOOPBACK = env_bool("GATEHOUSE_JWKS_ALLOW_LOOPBACK", False)
if GATEHOUSE_JWKS_ALLOW_LOOPBACK and not DEBUG:
    raise ImproperlyConfigured("GATEHOUSE_JWKS_ALLOW_LOOPBACK is for tests only and refused when DJANGO_DEBUG=0")
# Client assertions (RFC 7523): how far ahead `exp` may be for private_key_jwt, and the clock skew allowed.
GATEHOUSE_ASSERTION_MAX_LIFETIME = env_int("GATEHOUSE_ASSERTION_MAX_LIFETIME", 300, minimum=30, maximum=3600)
GATEHOUSE_ASSERTION_LEEWAY = env_int("GATEHOUSE_ASSERTION_LEEWAY", 30, minimum=0, maximum=300)
GATEHOUSE_ADMIN_PATH = env_str("GATEHOUSE_ADMIN_PATH", "admin/").strip("/") + "/"
if GATEHOUSE_ADMIN_PATH == "/":
    raise ImproperlyConfigured("GATEHOUSE_ADMIN_PATH must not be empty")


def _throttle_store(url: str) -> str:
    """GATEHOUSE_CACHE_URL: empty or `database` (the table `migrate` makes), or redis://host:port/db."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return url
    if url in ("", "database", "db"):
        return "database"
    raise ImproperlyConfigured(f"GATEHOUSE_CACHE_URL must be redis://... or database, got {url!r}")


# Throttling of failed client authentication (tokens/throttle.py, docs/security.md). The counters live where every
# worker and instance sees them: the database by default, or Redis. Nothing here runs on the success path.
GATEHOUSE_THROTTLE_STORE = _throttle_store(env_str("GATEHOUSE_CACHE_URL") or env_str("REDIS_URL"))
GATEHOUSE_AUTH_FAILURE_WINDOW = env_int("GATEHOUSE_AUTH_FAILURE_WINDOW", 300, minimum=1, maximum=86400)
# Failures per (address group, client id) in the window before that pair's failures answer 429.
GATEHOUSE_AUTH_FAILURE_LIMIT = env_int("GATEHOUSE_AUTH_FAILURE_LIMIT", 20, minimum=1)
# Failures per client id, from any address, in the window before it is flagged as under attack.
GATEHOUSE_AUTH_ALERT_THRESHOLD = env_int("GATEHOUSE_AUTH_ALERT_THRESHOLD", 50, minimum=1)
# Credential-less, malformed or unknown-client requests per address group in the window before they answer 429.
GATEHOUSE_AUTH_NOISE_LIMIT = env_int("GATEHOUSE_AUTH_NOISE_LIMIT", 1000, minimum=1)
GATEHOUSE_TRUSTED_PROXIES = env_networks("GATEHOUSE_TRUSTED_PROXIES", [])

# Admin login lockout (django-axes): per source address and, separately, per username (so 40 guesses for `root`
# spread over 10 addresses lock `root` out too), counted in the database, shared by all instances.
AXES_FAILURE_LIMIT = env_int("GATEHOUSE_ADMIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("GATEHOUSE_ADMIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_CLIENT_IP_CALLABLE = "tokens.addresses.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# Staff portal sessions: end after GATEHOUSE_SESSION_IDLE_MINUTES without a request and GATEHOUSE_SESSION_MAX_HOURS
# after login however active (portal.sessions.StaffSessionMiddleware). Rotating or retiring a secret and granting
# gatehouse:* scopes want a password typed within GATEHOUSE_SUDO_MINUTES (portal/sessions.py).
GATEHOUSE_SESSION_IDLE_SECONDS = 60 * env_int("GATEHOUSE_SESSION_IDLE_MINUTES", 30, minimum=1)
GATEHOUSE_SESSION_MAX_SECONDS = 3600 * env_int("GATEHOUSE_SESSION_MAX_HOURS", 12, minimum=1)
GATEHOUSE_SUDO_SECONDS = 60 * env_int("GATEHOUSE_SUDO_MINUTES", 10, minimum=1, maximum=60)
SESSION_COOKIE_AGE = GATEHOUSE_SESSION_MAX_SECONDS  # the session row and cookie never outlive the absolute limit

# Content-Security-Policy of every staff portal page (portal.middleware.PortalSecurityMiddleware): no inline script
# or style, nothing from elsewhere, no framing.
GATEHOUSE_PORTAL_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

# Operations (docs/deployment.md). /metrics answers addresses in GATEHOUSE_METRICS_NETWORKS (loopback only unless
# a token is set) and, when GATEHOUSE_METRICS_TOKEN is set, only with `Authorization: Bearer <token>`.
GATEHOUSE_METRICS_TOKEN = env_str("GATEHOUSE_METRICS_TOKEN")
GATEHOUSE_METRICS_NETWORKS = env_networks(
    "GATEHOUSE_METRICS_NETWORKS", ["0.0.0.0/0", "::/0"] if GATEHOUSE_METRICS_TOKEN else ["127.0.0.0/8", "::1/128"]
)

# Logs: JSON lines (one per OAuth request on gatehouse.access) unless debugging; GATEHOUSE_LOG_FORMAT overrides.
GATEHOUSE_LOG_FORMAT = log_format()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "ops.logs.JsonFormatter"}, "text": {"()": "ops.logs.TextFormatter"}},
    "filters": {"one_line": {"()": "ops.logs.OneLine"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": GATEHOUSE_LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("GATEHOUSE_LOG_LEVEL", "INFO")},
    "loggers": {
        # Django logs every 4xx with the request path; ours say more (and never a credential) in gatehouse.*.
        "django.request": {"level": "ERROR"},
        "django.security.DisallowedHost": {"filters": ["one_line"]},
        "axes": {"level": "WARNING"},
    },
}
