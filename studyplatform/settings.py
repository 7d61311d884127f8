"""Django settings, read from the environment (see ``envconfig.VARIABLES`` and ``.env.example``).

One module for every deployment: the embedded default (SQLite, file-system broker, no server) and
production (PostgreSQL, Redis, gunicorn, GPU workers) differ only in environment variables.
"""

from __future__ import annotations

from pathlib import Path

from kombu import Queue

from studyplatform.dbidentity import identity_of
from studyplatform.envconfig import (
    ConfigurationError,
    load,
    media_storage,
    parse_database_url,
    resolve_celery_urls,
    secret_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
env = load(BASE_DIR)  # kept: health checks name the variable in use

DEBUG = env.boolean("DEBUG")
# Production refuses a missing, published (.env.example's "replace-me") or short key.
SECRET_KEY = secret_key(env.string("SECRET_KEY"), DEBUG)
ALLOWED_HOSTS = env.items("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.items("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "studyplatform.apps.StudyAdminConfig",  # django.contrib.admin, its login rate-limited
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "studyplatform",
    "explainers",
    "studies",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "studyplatform.middleware.SecurityHeadersMiddleware",
    "studyplatform.middleware.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "studyplatform.ratelimit.CodeGuessLimitMiddleware",
]

ROOT_URLCONF = "studyplatform.urls"
WSGI_APPLICATION = "studyplatform.wsgi.application"

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

DATABASES = {"default": parse_database_url(env.string("DATABASE_URL"), BASE_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", BASE_DIR)
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", BASE_DIR)
STORAGES = {
    "default": media_storage(env),
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_STORAGE = env.string("MEDIA_STORAGE").strip().lower()
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- security: strict by default outside DEBUG (manage.py check --deploy is clean) ---------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SECURE_SSL_REDIRECT = env.boolean("SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS")
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
_proxy_header = env.string("SECURE_PROXY_SSL_HEADER").strip()
if _proxy_header:
    _header, _, _value = _proxy_header.partition("=")
    if not _value:
        raise ConfigurationError(
            "SECURE_PROXY_SSL_HEADER must look like HTTP_X_FORWARDED_PROTO=https"
        )
    SECURE_PROXY_SSL_HEADER = (_header.strip(), _value.strip())

# --- cache: shared through Redis when there is one (rate limits must hold across processes) ---
_redis_cache = next(
    (
        url
        for url in (env.string("REDIS_URL").strip(), env.string("CELERY_BROKER_URL").strip())
        if url.startswith(("redis://", "rediss://"))
    ),
    "",
)
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _redis_cache,
            "KEY_PREFIX": "studyplatform",  # shares the broker's database: never clear() it
        }
        if _redis_cache
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- REST API ----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "studyplatform.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "studyplatform.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Saliency study platform API",
    "DESCRIPTION": (
        "Classifiers, image sets, precomputed saliency maps and faithfulness scores, studies, "
        "participants and analyses. Errors share one format: "
        '{"error": {"code": ..., "message": ..., "details": ...}}.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery --------------------------------------------------------------------------------------
# one file-system queue per database: a worker never reads another database's tasks
_celery = resolve_celery_urls(env, VAR_DIR, database_key=identity_of(DATABASES["default"]))
CELERY_BROKER_URL = _celery.broker
# which variable set it (REDIS_URL stands in for an unset CELERY_BROKER_URL): the health check
# names it (outside the CELERY_ namespace: not a Celery setting)
BROKER_URL_VARIABLE = _celery.broker_variable
CELERY_RESULT_BACKEND = _celery.backend
CELERY_FILESYSTEM_FOLDER = _celery.filesystem_folder
if CELERY_FILESYSTEM_FOLDER is not None:
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(CELERY_FILESYSTEM_FOLDER / "queue"),
        "data_folder_out": str(CELERY_FILESYSTEM_FOLDER / "queue"),
        "processed_folder": str(CELERY_FILESYSTEM_FOLDER / "processed"),
        "control_folder": str(CELERY_FILESYSTEM_FOLDER / "control"),
        "store_processed": False,
    }
else:
    # With acks_late, Redis redelivers an unacknowledged task after the visibility timeout:
    # it must outlast the longest task, or a slow task would run twice.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.integer("CELERY_TASK_TIME_LIMIT", minimum=1) + 600
    }
CELERY_TASK_ALWAYS_EAGER = env.boolean("CELERY_TASK_ALWAYS_EAGER")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.integer("CELERY_TASK_TIME_LIMIT", minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env.integer("CELERY_TASK_SOFT_TIME_LIMIT", minimum=1)
if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
    raise ConfigurationError(
        "CELERY_TASK_SOFT_TIME_LIMIT must be smaller than CELERY_TASK_TIME_LIMIT"
    )
CELERY_TASK_TRACK_STARTED = True
CELERY_RESULT_EXPIRES = 7 * 24 * 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = (Queue("default"), Queue("gpu"))
# Saliency work (anything under explainers.tasks.gpu) goes to the GPU queue; the rest to default.
CELERY_TASK_ROUTES = {"explainers.tasks.gpu.*": {"queue": "gpu"}}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

EXPLAINERS_DEVICE = env.device()

# --- logging: one line per record, secrets never logged ----------------------------------------
RECRUITER_ID_KEY = env.string("RECRUITER_ID_KEY").strip()
SHARED_DATA_DIR = env.string("SHARED_DATA_DIR").strip() or None
ANALYSIS_INLINE_MAX_RESPONSES = env.integer("ANALYSIS_INLINE_MAX_RESPONSES", minimum=0)
TRUSTED_PROXIES = env.integer("TRUSTED_PROXIES", minimum=0)
LOG_LEVEL = env.string("LOG_LEVEL").upper() or "INFO"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Participant codes are credentials: every handler rewrites them out of its records
    # (studyplatform/logredact.py; gunicorn's access log uses its GunicornLogger).
    "filters": {"participant_codes": {"()": "studyplatform.logredact.RedactParticipantCodes"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["participant_codes"],
        },
        # runserver's (and the demo's) access log, as Django's default but redacted
        "server": {
            "class": "logging.StreamHandler",
            "formatter": "server",
            "filters": ["participant_codes"],
        },
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        **{
            name: {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False}
            for name in ("studyplatform", "explainers", "studies", "celery", "django")
        },
        "django.server": {"handlers": ["server"], "level": "INFO", "propagate": False},
    },
}

# The embedded default keeps its files under var/: create the folders it needs.
for _folder in (
    ([STATIC_ROOT])
    + (
        [Path(str(DATABASES["default"]["NAME"])).parent]
        if str(DATABASES["default"]["ENGINE"]).endswith("sqlite3")
        else []
    )
    + (
        [CELERY_FILESYSTEM_FOLDER / sub for sub in ("queue", "processed", "results", "control")]
        if CELERY_FILESYSTEM_FOLDER is not None
        else []
    )
):
    if str(_folder) != ":memory:":
        _folder.mkdir(parents=True, exist_ok=True)
