"""Django settings, every difference between environments read from the environment (django-environ)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from corsheaders.defaults import default_headers as cors_default_headers
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.env import database_config, is_placeholder_secret, proxy_ssl_header, replica_database_config

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if is_placeholder_secret(SECRET_KEY):
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is missing or a placeholder. Set a long random SECRET_KEY "
            '(python -c "import secrets; print(secrets.token_urlsafe(50))") or run with DEBUG=true.'
        )
    # Only ever used with DEBUG on, for local development.
    SECRET_KEY = "dev-only-not-secret-" + "k" * 40

PROJECT_NAME = env.str("PROJECT_NAME", default="Dashboard")
VERSION = env.str("VERSION", default="1.0.0")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "corsheaders",
    "csp",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "core.apps.CoreConfig",
    "accounts",
    "dashboard",
    "dashboard.staff",
    "idempotency",
]

MIDDLEWARE = [
    "core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.SecurityHeadersMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "core.middleware.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.middleware.ReadYourWritesMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.AdminMFAMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
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
                "core.context_processors.project",
            ],
        },
    },
]

DATABASES = {"default": database_config(env, BASE_DIR)}
# A read replica: the read-only dashboard selectors use it (core.db_routers); a writer reads the primary for
# DATABASE_REPLICA_PIN_SECONDS after its write.
if (_replica := replica_database_config(env)) is not None:
    DATABASES["replica"] = _replica
DATABASE_ROUTERS = ["core.db_routers.PrimaryReplicaRouter"]
DATABASE_REPLICA_PIN_SECONDS = env.int("DATABASE_REPLICA_PIN_SECONDS", default=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
# ModelBackend with permissions from the cached, versioned access profile (accounts.authz).
AUTHENTICATION_BACKENDS = ["accounts.backends.CachedPermissionsBackend"]
PASSWORD_MIN_LENGTH = env.int("PASSWORD_MIN_LENGTH", default=12)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# BCryptSHA256 pre-hashes, so bcrypt's 72-byte limit never truncates; PBKDF2 only verifies and upgrades old hashes.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.str("MEDIA_ROOT", default="") or str(BASE_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Request bodies: large enough for a 10,000-item metrics list with long names; uploads have their own cap.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=100 * 1024 * 1024)
UPLOAD_ASYNC_MIN_BYTES = env.int("UPLOAD_ASYNC_MIN_BYTES", default=5 * 1024 * 1024)
UPLOAD_RETENTION_DAYS = env.int("UPLOAD_RETENTION_DAYS", default=30)
# The most buckets a series (metrics/series, kpis/{id}/series) may span; a wider range is a 400 too_many_points.
SERIES_MAX_POINTS = env.int("SERIES_MAX_POINTS", default=10_000)

# Caches shared by every server process (throttle counters): Redis when configured, else files on disk.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="dashboard"),
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": env.str("CACHE_DIR", default="") or str(BASE_DIR / "var" / "cache"),
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="dashboard"),
        }
    }

# --- Security -------------------------------------------------------------------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Plain-HTTP health probes from load balancers and orchestrators must not be redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^readyz/?$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_PROXY_SSL_HEADER = proxy_ssl_header(env.str("SECURE_PROXY_SSL_HEADER", default=""))
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
SILENCED_SYSTEM_CHECKS = [
    # HSTS preload is opt-in (SECURE_HSTS_PRELOAD): submitting a domain to browsers' preload lists is hard to undo.
    "security.W021",
]

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_CREDENTIALS = True
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After", "Content-Disposition", "Idempotent-Replayed"]
CORS_ALLOW_HEADERS = (*cors_default_headers, "idempotency-key")

# --- API ------------------------------------------------------------------------------------------------
API_V1_STR = "/api/v1"
FRONTEND_URL = env.str("FRONTEND_URL", default="http://localhost:5173")
REGISTRATION_OPEN = env.bool("REGISTRATION_OPEN", default=True)
DEFAULT_ROLE = env.str("DEFAULT_ROLE", default="viewer")
# How long the response to a request with an Idempotency-Key is kept for replay.
IDEMPOTENCY_TTL_HOURS = env.int("IDEMPOTENCY_TTL_HOURS", default=24)

# Two-factor authentication (django-otp TOTP): staff without it are sent to enrolment before any admin page.
ADMIN_REQUIRE_MFA = env.bool("ADMIN_REQUIRE_MFA", default=not DEBUG)
OTP_TOTP_ISSUER = PROJECT_NAME

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.VersionedJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.ModelPermissions"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.SkipLimitPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "core.exception_handler.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "core.parsers.FormParser",
        "core.parsers.MultiPartParser",
    ],
    "NUM_PROXIES": NUM_PROXIES,
    "DEFAULT_THROTTLE_RATES": {
        "login": env.str("THROTTLE_LOGIN", default="10/min"),
        "register": env.str("THROTTLE_REGISTER", default="5/min"),
        "refresh": env.str("THROTTLE_REFRESH", default="30/min"),
        "password": env.str("THROTTLE_PASSWORD", default="5/min"),
        "api_key": env.str("THROTTLE_API_KEY", default="6000/min"),
        "upload": env.str("THROTTLE_UPLOAD", default="60/hour"),
    },
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("ACCESS_TOKEN_LIFETIME_MINUTES", default=5)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("REFRESH_TOKEN_LIFETIME_DAYS", default=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default="") or SECRET_KEY,
    "ALGORITHM": "HS256",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

SPECTACULAR_SETTINGS = {
    "TITLE": f"{PROJECT_NAME} API",
    "DESCRIPTION": (
        "REST API for users, roles, metrics, KPIs, uploads, alerts and boards.\n\n"
        "**Start with the guide for app developers: [/api/guide/](/api/guide/)** (`docs/api.md` in the repository): "
        "the login flow with refresh rotation and what to do on a 401, the error envelope and its codes, pagination, "
        "time zones and buckets, uploads, API keys and `Idempotency-Key`, with curl examples.\n\n"
        "To try an operation here: `POST /api/v1/auth/login` with your email and password, copy `access` from the "
        "answer, press **Authorize** and paste it."
    ),
    "DISABLE_DOCSTRING_DESCRIPTIONS": True,  # docstrings are for maintainers; operations are described on purpose
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name per choice set, wherever a field uses it (a board panel's metric "agg", a KPI's "aggregation").
    "ENUM_NAME_OVERRIDES": {
        "AggregationEnum": "dashboard.metrics.models.Aggregation",
        "PanelTypeEnum": "dashboard.boards.models.Panel.Type",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.schema.add_error_responses",
        "core.schema.describe_operations",
    ],
}

# --- Email ----------------------------------------------------------------------------------------------
EMAIL_URL = env.str("EMAIL_URL", default="")
if EMAIL_URL:
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="dashboard@localhost")

# --- Celery ---------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")

# --- Logging --------------------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOG_FORMAT = env.str("LOG_FORMAT", default="console")
if LOG_FORMAT not in {"console", "json"}:
    raise ImproperlyConfigured("LOG_FORMAT must be 'console' or 'json'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.logging.RequestIdFilter"}},
    "formatters": {
        "console": {
            "()": "config.logging.ConsoleFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
            "datefmt": "%Y-%m-%d %H:%M:%S",
        },
        "json": {"()": "config.logging.JsonFormatter"},
    },
    "handlers": {
        "default": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["default"], "level": LOG_LEVEL},
    "loggers": {
        # Our request log replaces Django's own per-request lines.
        "django.request": {"level": "ERROR", "propagate": True},
        "django.server": {"level": "WARNING", "propagate": True},
    },
}

# Bodies larger than these (by Content-Length) are refused with 413 before they are read.
API_BODY_LIMITS = {
    r"^/api/v1/dashboard/upload/?$": UPLOAD_MAX_BYTES + 1024 * 1024,
}

# Celery: a task is acknowledged only when done, and re-queued if its worker dies, so no import is lost.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis hands a task whose worker died (never acknowledged) to another worker this many seconds after it was first
# delivered. Keep it above the longest import: a task still running when it expires is delivered a second time (the
# import service then finds the upload locked or finished and does nothing).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)}
# An upload still ``processing`` this long after it started (and not locked by a running import) was interrupted for
# good: longer than the visibility timeout, so a task redelivered after its worker died re-imports it first.
UPLOAD_STALE_AFTER = timedelta(seconds=CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] + 600)
UPLOAD_SETTLE_INTERVAL_SECONDS = 600

# --- Alerts ---------------------------------------------------------------------------------------------
# This backend's public origin, for links to the staff UI in alert mails.
SITE_URL = env.str("SITE_URL", default="http://localhost:8000")
ALERTS_INTERVAL_SECONDS = env.int("ALERTS_INTERVAL_SECONDS", default=60)
# Retries after a failed delivery attempt, waiting ALERTS_WEBHOOK_BACKOFF_SECONDS x 2^(attempt - 1) before each.
ALERTS_WEBHOOK_RETRIES = env.int("ALERTS_WEBHOOK_RETRIES", default=5)
ALERTS_WEBHOOK_BACKOFF_SECONDS = env.float("ALERTS_WEBHOOK_BACKOFF_SECONDS", default=30)
# Hosts webhooks may reach although they resolve to non-public addresses (e.g. an internal receiver).
ALERTS_WEBHOOK_ALLOWED_HOSTS = env.list("ALERTS_WEBHOOK_ALLOWED_HOSTS", default=[])
# The queue tasks go to (and beat sends to) unless routed otherwise.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
# Celery beat (`celery -A config beat`, or `worker -B`) evaluates every alert rule this often; a run that could not
# start within the interval is dropped rather than piling up behind a stopped worker.
CELERY_BEAT_SCHEDULE = {
    "alerts-evaluate": {
        "task": "dashboard.tasks.alerts_evaluate_task",
        "schedule": float(ALERTS_INTERVAL_SECONDS),
        "options": {"expires": float(ALERTS_INTERVAL_SECONDS)},
    },
    # Uploads left processing by a dead worker or a database that stayed down (`manage.py uploads_settle` from cron).
    "uploads-settle": {
        "task": "dashboard.tasks.uploads_settle_task",
        "schedule": float(UPLOAD_SETTLE_INTERVAL_SECONDS),
        "options": {"expires": float(UPLOAD_SETTLE_INTERVAL_SECONDS)},
    },
    # Expired Idempotency-Key records (IDEMPOTENCY_TTL_HOURS); `manage.py idempotency_purge` does the same from cron.
    "idempotency-purge": {
        "task": "idempotency.tasks.idempotency_purge_task",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
}
