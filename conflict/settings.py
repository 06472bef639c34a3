"""Settings for the Conflict Timeline.

Everything that differs between a laptop and production comes from the
environment (see README.md, "Configuration"). Defaults are safe for
development: DEBUG is off unless asked for, and a secret key is required
whenever it is off.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from conflict.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off "
            "(set DJANGO_DEBUG=1 for local development)."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "corsheaders",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "timeline",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Above WhiteNoise, so static files get the same CSP and framing headers as pages.
    "csp.middleware.CSPMiddleware",
    "conflict.middleware.CSPExceptionsMiddleware",
    # Above everything that may answer for the API by itself (503, redirects, lock-outs): X-Record-Time on all.
    "timeline.api.middleware.RecordTimeMiddleware",
    "conflict.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Below authentication (it asks who the reader is): anonymous GET/HEAD may read a replica.
    # Above the response cache, so its record-clock read comes from the same replica as the data.
    "conflict.middleware.ReplicaReadsMiddleware",
    # Below authentication and sessions: anonymous answers from the response cache (timeline.cache).
    "timeline.cache.PublicResponseCacheMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "conflict.urls"

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

WSGI_APPLICATION = "conflict.wsgi.application"

# DATABASE_URL unset: a SQLite file beside manage.py (the embedded default).
# postgres://user@host:port/name: PostgreSQL, the production database.
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DJANGO_CONN_MAX_AGE", 60),
        conn_health_checks=True,
        # Behind PgBouncer in transaction pooling mode (docs/scaling.md): no named cursors.
        disable_server_side_cursors=env_bool("DATABASE_DISABLE_SERVER_SIDE_CURSORS"),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Readers and the dev server never wait on a writer for long.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A runaway query is cancelled by the server instead of holding a worker (0 turns it off).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
        f"-c statement_timeout={env_int('DATABASE_STATEMENT_TIMEOUT_MS', 5000)}"
    )

# DATABASE_REPLICA_URLS: comma-separated PostgreSQL streaming replicas of DATABASE_URL, parsed
# like it. Anonymous GET/HEAD requests read one of them; everything else uses the primary
# (conflict/db_routers.py, docs/scaling.md). Same options as the primary, plus a short
# connect_timeout so that a replica that is down costs a reader at most that long, once.
DATABASE_REPLICAS = []
for _number, _url in enumerate(env_list("DATABASE_REPLICA_URLS", []), start=1):
    try:
        _replica = dj_database_url.parse(
            _url, conn_max_age=env_int("DJANGO_CONN_MAX_AGE", 60), conn_health_checks=True,
            disable_server_side_cursors=env_bool("DATABASE_DISABLE_SERVER_SIDE_CURSORS"), test_options={"MIRROR": "default"},
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_REPLICA_URLS entry {_number} is not a database URL: {exc}") from exc
    if _replica["ENGINE"] != "django.db.backends.postgresql" or DATABASES["default"]["ENGINE"] != _replica["ENGINE"]:
        raise ImproperlyConfigured(
            f"DATABASE_REPLICA_URLS entry {_number} must be a postgres:// URL, "
            "and DATABASE_URL a PostgreSQL primary: replicas are PostgreSQL streaming replicas."
        )
    _replica["OPTIONS"] = {
        **DATABASES["default"].get("OPTIONS", {}),
        "connect_timeout": env_int("DATABASE_REPLICA_CONNECT_TIMEOUT", 2),
    }
    DATABASES[f"replica_{_number}"] = _replica
    DATABASE_REPLICAS.append(f"replica_{_number}")
# A replica that could not be reached is not tried again for this long.
DATABASE_REPLICA_RETRY_SECONDS = env_int("DATABASE_REPLICA_RETRY_SECONDS", 10)
DATABASE_ROUTERS = ["conflict.db_routers.ReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# django-axes first: it refuses a locked-out username+address before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Staff logins (admin and API token): AXES_FAILURE_LIMIT failures from one address for one
# username lock that pair out for AXES_COOLOFF_MINUTES. `manage.py axes_reset` lifts every lock.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The lock lasts AXES_COOLOFF_MINUTES from the last counted failure; tries while locked do not extend it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "conflict.middleware.lockout_response"
# Behind our own proxy (DJANGO_BEHIND_PROXY=1) the client is the address that proxy appended.
AXES_CLIENT_IP_CALLABLE = "conflict.middleware.client_ip"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# What anonymous readers get (timeline.cache): the same backend, its own keys. Entries are keyed by
# the record version, so a change invalidates them at once; the timeout only bounds memory.
TIMELINE_RESPONSE_CACHE = env_bool("RESPONSE_CACHE", default=True)
TIMELINE_RESPONSE_CACHE_SECONDS = env_int("RESPONSE_CACHE_SECONDS", 300)
CACHES["responses"] = {**CACHES["default"], "KEY_PREFIX": "responses", "TIMEOUT": TIMELINE_RESPONSE_CACHE_SECONDS}
if not REDIS_URL:
    CACHES["responses"].update(LOCATION="responses", OPTIONS={"MAX_ENTRIES": 500})

SITE_NAME = env_str("SITE_NAME", "Conflict Timeline")

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.DjangoModelPermissionsOrAnonReadOnly"],
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"anon": env_str("API_ANON_RATE", "600/minute")},
    "EXCEPTION_HANDLER": "timeline.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "timeline.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DATETIME_FORMAT": "iso-8601",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Conflict Timeline API",
    "DESCRIPTION": "Structured, sourced history of conflicts: districts, parties, agreements, "
    "deadlines and postponements, handovers and events.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "PublicationStatusEnum": "timeline.models.PublicationStatus",
        "PrecisionEnum": "timeline.models.Precision",
        "EventKindEnum": "timeline.models.Event.Kind",
        "DistrictKindEnum": "timeline.models.District.Kind",
        "PartyKindEnum": "timeline.models.Party.Kind",
        "SourceKindEnum": "timeline.models.Source.Kind",
        "AgreementKindEnum": "timeline.models.Agreement.Kind",
        "HandoverStatusEnum": "timeline.models.Handover.Status",
        "ProvisionStatusEnum": "timeline.models.ProvisionStatus",
    },
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "timeline.api.schema.document_common_answers",
    ],
}

# The API is read-only for anonymous clients, so any origin may read it.
CORS_ALLOW_ALL_ORIGINS = True
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_METHODS = ["GET", "HEAD", "OPTIONS"]
CORS_EXPOSE_HEADERS = ["ETag", "Last-Modified", "X-Record-Time", "Retry-After"]

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Staff sessions end after a working day (seconds).
SESSION_COOKIE_AGE = env_int("DJANGO_SESSION_SECONDS", 12 * 3600)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", default=SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0)
# Once HSTS is on, it covers subdomains and allows preloading unless told otherwise.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=SECURE_HSTS_SECONDS > 0)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", default=SECURE_HSTS_SECONDS > 0)

# Request bodies: the API and the admin forms take far less than this; a larger body is
# refused with 400 before it is parsed (file uploads have their own limit in the admin).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DJANGO_MAX_BODY_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000

# Content-Security-Policy on every response (django-csp). The pages use only static
# script files and JSON data blocks, and no inline style. The few third-party pages that
# need more (API docs, browsable API, party colours) get it from CSPExceptionsMiddleware, nowhere else.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
    },
}
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("DJANGO_BEHIND_PROXY") else None

# Dataset releases (see timeline.management.commands.release_dataset).
RELEASES_DIR = Path(env_str("RELEASES_DIR", str(BASE_DIR / "releases")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
}
