"""Reading and validating the platform's configuration from the environment.

Every variable the platform reads is declared once in :data:`VARIABLES` (name, default, meaning).
``settings.py`` reads them through :class:`Environment`, ``.env.example`` documents them, and a
test checks that the two and ``docker-compose.yml`` agree. Bad values raise
:class:`ConfigurationError` whose message names the variable; ``manage.py``, the WSGI entry point
and the Celery app print that one line instead of a traceback.

This module imports no Django so that it can be used before settings exist.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url


class ConfigurationError(Exception):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Variable:
    name: str
    default: str | None
    help: str


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "DEBUG", "false", "Development mode (detailed error pages). Never true in production."
    ),
    Variable(
        "SECRET_KEY",
        None,
        "Django's signing key. Required when DEBUG is false: production refuses to start without "
        "one, with .env.example's placeholder or with one shorter than 50 characters. Generate "
        "with: python -c 'import secrets; print(secrets.token_urlsafe(50))'",
    ),
    Variable(
        "RECRUITER_ID_KEY",
        "",
        "Key of the keyed hashes (HMAC-SHA256) that stand for Prolific/MTurk ids. Default: "
        "derived from SECRET_KEY. Set it to rotate SECRET_KEY without losing repeat-participation "
        "checks and withdrawal by recruiter id; never change it during a study.",
    ),
    Variable(
        "ALLOWED_HOSTS",
        "localhost,127.0.0.1,[::1]",
        "Comma-separated host names the site answers to.",
    ),
    Variable(
        "CSRF_TRUSTED_ORIGINS",
        "",
        "Comma-separated origins (scheme://host) allowed for CSRF behind a proxy.",
    ),
    Variable(
        "DATABASE_URL",
        "sqlite:///var/db.sqlite3",
        "Database URL: sqlite:///relative/or//absolute/path or "
        "postgres://user:password@host:5432/dbname. Default: an SQLite file under var/.",
    ),
    Variable(
        "REDIS_URL",
        "",
        "Redis URL (redis://host:6379/0). Used as Celery broker and result backend when "
        "CELERY_BROKER_URL is not set.",
    ),
    Variable(
        "CELERY_BROKER_URL",
        "",
        "Celery broker URL. Default: REDIS_URL if set, else a file-system broker under var/celery/ "
        "that needs no server (one machine only; a folder per database).",
    ),
    Variable(
        "CELERY_RESULT_BACKEND",
        "",
        "Celery result backend. Default: the Redis broker, or files under var/ with the "
        "file-system broker.",
    ),
    Variable(
        "CELERY_TASK_ALWAYS_EAGER",
        "false",
        "Run tasks in-process instead of sending them to a worker (no worker needed).",
    ),
    Variable("CELERY_TASK_TIME_LIMIT", "3600", "Hard time limit of a task, in seconds."),
    Variable("CELERY_TASK_SOFT_TIME_LIMIT", "3300", "Soft time limit of a task, in seconds."),
    Variable(
        "MEDIA_ROOT",
        "var/media",
        "Where uploaded and computed files are stored with MEDIA_STORAGE=filesystem.",
    ),
    Variable(
        "MEDIA_STORAGE",
        "filesystem",
        "Where files live: filesystem (MEDIA_ROOT, one host) or s3 (an S3-compatible bucket: "
        "AWS S3, MinIO, Ceph RGW, Garage; needed when workers and web run on different hosts).",
    ),
    Variable("AWS_STORAGE_BUCKET_NAME", "", "The bucket of MEDIA_STORAGE=s3 (required with s3)."),
    Variable(
        "AWS_S3_ENDPOINT_URL",
        "",
        "The S3 endpoint (http(s)://host:port) of MinIO, Ceph, Garage…; empty: AWS itself.",
    ),
    Variable(
        "AWS_ACCESS_KEY_ID",
        "",
        "Access key of the bucket; empty (with the secret empty too): boto3's default "
        "credentials (instance role, ~/.aws).",
    ),
    Variable("AWS_SECRET_ACCESS_KEY", "", "Secret key that goes with AWS_ACCESS_KEY_ID."),
    Variable(
        "MEDIA_PUBLIC_ENDPOINT_URL",
        "",
        "The S3 endpoint as participants' browsers reach it, when it differs from "
        "AWS_S3_ENDPOINT_URL (http://minio:9000 inside compose, https://media.example.org "
        "outside): signed URLs name it. Empty: AWS_S3_ENDPOINT_URL.",
    ),
    Variable("AWS_S3_REGION_NAME", "us-east-1", "Region of the bucket."),
    Variable(
        "AWS_QUERYSTRING_EXPIRE",
        "300",
        "Lifetime in seconds of the signed URLs that serve files from the bucket.",
    ),
    Variable("STATIC_ROOT", "var/static", "Where collectstatic gathers static files."),
    Variable(
        "EXPLAINERS_DEVICE",
        "auto",
        "Device for saliency work: auto (CUDA when available, else CPU), cpu, cuda or cuda:N.",
    ),
    Variable(
        "SHARED_DATA_DIR",
        "",
        "Folder of the shared data whose imagenet-sample/ the demo adds to its image sets. "
        "Default: ../shared/data beside the project, when present.",
    ),
    Variable(
        "ANALYSIS_INLINE_MAX_RESPONSES",
        "5000",
        "Studies with more responses than this are analysed by a Celery worker (default queue) "
        "instead of in the web request that asks for the results.",
    ),
    Variable(
        "SECURE_SSL_REDIRECT",
        "",
        "Redirect HTTP to HTTPS. Default: true when DEBUG is false.",
    ),
    Variable("SECURE_HSTS_SECONDS", "31536000", "HSTS max-age when DEBUG is false."),
    Variable(
        "SECURE_PROXY_SSL_HEADER",
        "",
        "Header set by a TLS-terminating proxy, e.g. HTTP_X_FORWARDED_PROTO=https.",
    ),
    Variable(
        "TRUSTED_PROXIES",
        "0",
        "Number of reverse proxies in front of the site that append to X-Forwarded-For; rate "
        "limits key on the address the outermost one saw. 0: REMOTE_ADDR (no proxy).",
    ),
    Variable("LOG_LEVEL", "INFO", "Log level of the platform's loggers."),
)

VARIABLE_NAMES = frozenset(v.name for v in VARIABLES)
_DEFAULTS = {v.name: v.default for v in VARIABLES}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a ``.env`` file of ``KEY=VALUE`` lines (``#`` comments, optional quotes)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ConfigurationError(f"{path}:{number}: expected KEY=VALUE, got {raw!r}")
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


class Environment:
    """Typed access to the declared variables: the process environment wins over ``.env``."""

    def __init__(self, environ: Mapping[str, str], dotenv: Mapping[str, str] | None = None):
        self._values = {**(dotenv or {}), **environ}

    def raw(self, name: str) -> str | None:
        if name not in VARIABLE_NAMES:
            raise KeyError(f"{name} is not a declared configuration variable")
        value = self._values.get(name)
        return value if value is not None else _DEFAULTS[name]

    def string(self, name: str) -> str:
        return self.raw(name) or ""

    def boolean(self, name: str, default: bool | None = None) -> bool:
        value = (self.raw(name) or "").strip().lower()
        if value == "" and default is not None:
            return default
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ConfigurationError(f"{name} must be true or false, got {value!r}")

    def integer(self, name: str, minimum: int = 0) -> int:
        value = self.string(name).strip()
        try:
            number = int(value)
        except ValueError:
            raise ConfigurationError(f"{name} must be an integer, got {value!r}") from None
        if number < minimum:
            raise ConfigurationError(f"{name} must be at least {minimum}, got {number}")
        return number

    def items(self, name: str) -> list[str]:
        return [item.strip() for item in self.string(name).split(",") if item.strip()]

    def path(self, name: str, base: Path) -> Path:
        value = self.string(name).strip()
        if not value:
            raise ConfigurationError(f"{name} must not be empty")
        path = Path(value)
        return path if path.is_absolute() else base / path

    def device(self) -> str:
        value = self.string("EXPLAINERS_DEVICE").strip().lower()
        if not _DEVICE.match(value):
            raise ConfigurationError(
                f"EXPLAINERS_DEVICE must be auto, cpu, cuda or cuda:N, got {value!r}"
            )
        return value


DEVELOPMENT_SECRET_KEY = "insecure-development-key-only-used-when-DEBUG-is-true"
#: Keys that are published (``.env.example``'s placeholder, the development key): never secret.
PUBLISHED_SECRET_KEYS = frozenset({"replace-me", DEVELOPMENT_SECRET_KEY})
#: Django's own bar (``check --deploy``, security.W009): at least 50 characters.
SECRET_KEY_MIN_LENGTH = 50
_GENERATE_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(50))'"


def secret_key(value: str, debug: bool) -> str:
    """The signing key to use: ``value``, checked when ``debug`` is false.

    Production refuses a missing key, a published one (``.env.example``'s placeholder, the
    development key) and one shorter than :data:`SECRET_KEY_MIN_LENGTH` characters. Development
    falls back to :data:`DEVELOPMENT_SECRET_KEY` when none is set. The messages never show the key.
    """
    key = value.strip()
    if debug:
        return key or DEVELOPMENT_SECRET_KEY
    if not key:
        raise ConfigurationError(
            "SECRET_KEY is not set: production (DEBUG=false) refuses to start without one. "
            "Set SECRET_KEY in the environment or .env, or DEBUG=true for development."
        )
    if key in PUBLISHED_SECRET_KEYS:
        raise ConfigurationError(
            "SECRET_KEY is a published placeholder (from .env.example or the development "
            "default): production (DEBUG=false) needs a secret one. "
            f"Generate it with: {_GENERATE_KEY}"
        )
    if len(key) < SECRET_KEY_MIN_LENGTH:
        raise ConfigurationError(
            f"SECRET_KEY is too short ({len(key)} characters): production (DEBUG=false) needs at "
            f"least {SECRET_KEY_MIN_LENGTH}. Generate one with: {_GENERATE_KEY}"
        )
    return key


def parse_database_url(url: str, base: Path) -> dict[str, object]:
    """Turn ``DATABASE_URL`` into a Django ``DATABASES['default']`` entry.

    The URL is read by ``dj-database-url`` (percent-encoded user names and passwords included);
    this adds the platform's checks and options. SQLite runs in WAL mode with ``BEGIN IMMEDIATE``
    transactions so that the web server and a worker process can write to the same file, and a
    relative path is under the project; PostgreSQL keeps connections for a minute and checks
    them before use.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "sqlite":
        if url[len("sqlite://") :] in ("", "/"):
            raise ConfigurationError(
                "DATABASE_URL: an SQLite URL needs a file path, e.g. sqlite:///var/db.sqlite3"
            )
        name = str(dj_database_url.parse(url)["NAME"])
        path = Path(name) if name.startswith("/") or name == ":memory:" else base / name
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(path),
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    if scheme in ("postgres", "postgresql", "pgsql"):
        try:
            parsed = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
        except (ValueError, dj_database_url.ParseError):
            raise ConfigurationError(
                "DATABASE_URL is malformed: the port is not a number, or a part of it is not "
                "percent-encoded, e.g. postgres://user:password@127.0.0.1:5432/studyplatform"
            ) from None
        if not parsed.get("HOST") or not parsed.get("NAME"):
            raise ConfigurationError(
                "DATABASE_URL is malformed: a PostgreSQL URL needs a host and a database name, "
                "e.g. postgres://user:password@127.0.0.1:5432/studyplatform"
            )
        keys = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "CONN_MAX_AGE", "CONN_HEALTH_CHECKS")
        entry: dict[str, object] = {key: parsed[key] for key in keys}  # type: ignore[literal-required]
        entry["PORT"] = str(parsed.get("PORT") or 5432)
        return entry
    raise ConfigurationError(
        f"DATABASE_URL is malformed or has an unsupported scheme {scheme!r}: use "
        "sqlite:///path/to/db.sqlite3 or postgres://user:password@host:5432/dbname"
    )


MEDIA_STORAGES = ("filesystem", "s3")


def media_storage(env: Environment) -> dict[str, object]:
    """``STORAGES['default']`` for ``MEDIA_STORAGE``: the file system or django-storages' S3.

    The S3 options are django-storages' own (its variable names too). Files are never
    overwritten by a same-named upload (as on the file system), never public (no ACL: every
    URL is signed and short-lived), and addressed by path when an endpoint is given, which every
    S3-compatible server understands.
    """
    kind = env.string("MEDIA_STORAGE").strip().lower()
    if kind not in MEDIA_STORAGES:
        raise ConfigurationError(f"MEDIA_STORAGE must be filesystem or s3, got {kind!r}")
    if kind == "filesystem":
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    bucket = env.string("AWS_STORAGE_BUCKET_NAME").strip()
    if not bucket:
        raise ConfigurationError(
            "AWS_STORAGE_BUCKET_NAME is not set: MEDIA_STORAGE=s3 needs the bucket's name"
        )
    endpoint = _endpoint(env, "AWS_S3_ENDPOINT_URL")
    public = _endpoint(env, "MEDIA_PUBLIC_ENDPOINT_URL")
    access = env.string("AWS_ACCESS_KEY_ID").strip()
    secret = env.string("AWS_SECRET_ACCESS_KEY").strip()
    if bool(access) != bool(secret):
        missing = "AWS_SECRET_ACCESS_KEY" if access else "AWS_ACCESS_KEY_ID"
        raise ConfigurationError(
            f"{missing} is not set: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together "
            "(or leave both empty for boto3's default credentials)"
        )
    options: dict[str, object] = {
        "bucket_name": bucket,
        "endpoint_url": endpoint or None,
        "access_key": access or None,
        "secret_key": secret or None,
        "region_name": env.string("AWS_S3_REGION_NAME").strip() or None,
        "querystring_auth": True,
        "querystring_expire": env.integer("AWS_QUERYSTRING_EXPIRE", minimum=1),
        "file_overwrite": False,
        "default_acl": None,
    }
    from botocore.config import Config

    # Checksums only where S3 requires them: MinIO, Ceph, Garage and moto versions in the field
    # refuse or mishandle botocore's newer default (CRC32 trailers on every upload).
    options["client_config"] = Config(
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path" if endpoint else "auto"},
        signature_version="s3v4",
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": 3, "mode": "standard"},
    )
    options["public_endpoint_url"] = public or None
    return {"BACKEND": "studyplatform.storage.MediaStorage", "OPTIONS": options}


def _endpoint(env: Environment, name: str) -> str:
    endpoint = env.string(name).strip()
    if endpoint:
        parts = urlsplit(endpoint)
        try:
            _ = parts.port
        except ValueError:
            parts = parts._replace(netloc="")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"{name} must look like http(s)://host:port, got {endpoint!r}")
    return endpoint


@dataclass(frozen=True)
class CeleryUrls:
    broker: str
    backend: str
    filesystem_folder: Path | None
    #: the environment variable the broker URL came from ("" for the built-in default)
    broker_variable: str = ""


def resolve_celery_urls(env: Environment, var_dir: Path, database_key: str = "") -> CeleryUrls:
    """Broker and result backend: explicit, else Redis, else a server-less file-system broker.

    The file-system broker's folder is ``var/celery/<database_key>/`` (the database's identity,
    :mod:`studyplatform.dbidentity`): processes on two databases never share a queue, so a worker
    started for one database never reads the other's tasks.
    """
    broker = env.string("CELERY_BROKER_URL").strip() or env.string("REDIS_URL").strip()
    backend = env.string("CELERY_RESULT_BACKEND").strip()
    if not broker:
        folder = var_dir / "celery" / database_key if database_key else var_dir / "celery"
        return CeleryUrls("filesystem://", backend or f"file://{folder / 'results'}", folder)
    name = "CELERY_BROKER_URL" if env.string("CELERY_BROKER_URL").strip() else "REDIS_URL"
    scheme = urlsplit(broker).scheme
    if scheme not in {"redis", "rediss", "amqp", "pyamqp", "filesystem", "memory"}:
        raise ConfigurationError(
            f"{name} is malformed or has an unsupported scheme {scheme!r}: use redis://host:6379/0"
        )
    if scheme in {"redis", "rediss"}:
        try:
            _ = urlsplit(broker).port
        except ValueError:
            raise ConfigurationError(f"{name} is malformed: the port is not a number") from None
    if scheme == "filesystem":
        folder = var_dir / "celery" / database_key if database_key else var_dir / "celery"
        return CeleryUrls(broker, backend or f"file://{folder / 'results'}", folder, name)
    return CeleryUrls(broker, backend or broker, None, name)


def redact_url(url: str) -> str:
    """Hide the password of a URL for logs and the health endpoint."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def database_error_line(error: str, url: str) -> str:
    """One line for a database that cannot be used: the error's first line and ``DATABASE_URL``
    with its password hidden (also wherever the error itself would repeat it)."""
    password = urlsplit(url).password
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    first = lines[0] if lines else "unknown error"
    if password:
        first = first.replace(password, "***")
    return f"Database error: {first} (check DATABASE_URL={redact_url(url)})"


def load(base_dir: Path) -> Environment:
    """The environment for this process: ``os.environ`` over the project's ``.env`` file."""
    return Environment(os.environ, read_dotenv(base_dir / ".env"))
