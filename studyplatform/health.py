"""Reachability of the services the platform needs: the database, the Celery broker and the
media storage (a writable ``MEDIA_ROOT``, or a bucket that exists and takes the credentials).

Used by ``/healthz``, ``manage.py check_services`` and the worker's start-up check. Each failure
message names the configuration variable to fix.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connections
from kombu import Connection

from studyplatform.envconfig import redact_url


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    ok: bool
    detail: str
    latency_ms: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _broker_variable() -> str:
    """The environment variable the broker URL came from (settings record it at start-up).

    ``django.conf.settings`` keeps upper-case names only, so the settings module's ``env`` is
    not visible here: the variable is resolved with the URL, in ``resolve_celery_urls``.
    """
    return getattr(settings, "BROKER_URL_VARIABLE", "") or "CELERY_BROKER_URL"


def check_database(alias: str = "default") -> ServiceStatus:
    started = time.perf_counter()
    engine = str(settings.DATABASES[alias]["ENGINE"]).rsplit(".", 1)[-1]
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        return ServiceStatus(
            "database",
            False,
            f"DATABASE_URL: cannot reach the {engine} database: {first_line}",
            _elapsed(started),
        )
    return ServiceStatus("database", True, engine, _elapsed(started))


def check_broker(timeout: float = 3.0) -> ServiceStatus:
    started = time.perf_counter()
    url = str(settings.CELERY_BROKER_URL)
    shown = redact_url(url)
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return ServiceStatus("broker", True, "tasks run in-process (eager)", _elapsed(started))
    folder = settings.CELERY_FILESYSTEM_FOLDER
    if url.startswith("filesystem://") and folder is not None:
        queue = Path(folder) / "queue"
        ok = queue.is_dir() and _writable(queue)
        detail = f"file-system broker in {queue}" if ok else f"cannot write to {queue}"
        return ServiceStatus("broker", ok, detail, _elapsed(started))
    try:
        with Connection(url, connect_timeout=timeout) as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as error:  # kombu raises transport-specific errors
        return ServiceStatus(
            "broker",
            False,
            f"{_broker_variable()}: cannot reach the Celery broker at {shown}: {error}",
            _elapsed(started),
        )
    return ServiceStatus("broker", True, shown, _elapsed(started))


def check_storage() -> ServiceStatus:
    started = time.perf_counter()
    if getattr(settings, "MEDIA_STORAGE", "filesystem") != "s3":
        from django.core.files.storage import default_storage

        root = Path(default_storage.location)  # type: ignore[attr-defined]  # MEDIA_ROOT
        existing = next((p for p in (root, *root.parents) if p.exists()), root)
        ok = existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
        detail = f"file system at {root}" if ok else f"MEDIA_ROOT: cannot write to {root}"
        return ServiceStatus("storage", ok, detail, _elapsed(started))
    return _check_bucket(started)


def _check_bucket(started: float) -> ServiceStatus:
    """One HEAD of the bucket: it exists, and the storage takes the credentials."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    from django.core.files.storage import default_storage

    bucket = getattr(default_storage, "bucket_name", "?")
    endpoint = getattr(default_storage, "endpoint_url", None) or "AWS S3"
    where = f"bucket {bucket!r} at {endpoint}"
    try:
        default_storage.connection.meta.client.head_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    except NoCredentialsError:
        detail = f"AWS_ACCESS_KEY_ID: no credentials for the {where} (set it and the secret)"
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        if code in ("404", "NoSuchBucket") or status == 404:
            detail = f"AWS_STORAGE_BUCKET_NAME: the {where} does not exist (create it first)"
        elif status in (400, 401, 403):
            detail = (
                f"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: the {where} refuses the credentials "
                f"(HTTP {status} {code})"
            )
        else:
            detail = f"AWS_S3_ENDPOINT_URL: the {where} answered HTTP {status} {code}"
    except BotoCoreError as error:
        detail = f"AWS_S3_ENDPOINT_URL: cannot reach the object storage at {endpoint}: {error}"
    else:
        return ServiceStatus("storage", True, where, _elapsed(started))
    return ServiceStatus("storage", False, detail, _elapsed(started))


def check_all() -> list[ServiceStatus]:
    return [check_database(), check_broker(), check_storage()]


def _writable(folder: Path) -> bool:
    probe = folder / ".healthz-probe"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        return False
    return True


def _elapsed(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
