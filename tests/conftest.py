"""Shared test fixtures.

``shared_data_dir`` points at ``../shared/data`` beside the project root (or ``SHARED_DATA_DIR``).
It is present in development and CI; tests that need it are skipped with a clear reason when it is
absent (a fresh clone on another machine), except under ``REQUIRE_SERVICES=1`` (CI, ``make
services-test``): there a missing data folder fails them, so CI cannot pass without running them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _shared_data_dir() -> Path:
    return Path(os.environ.get("SHARED_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))


def _missing_data(reason: str) -> None:
    """Skip a test whose shared data is absent; with ``REQUIRE_SERVICES=1`` (CI), fail it."""
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1: CI must have it)", pytrace=False)
    pytest.skip(f"{reason}; CI always has it")


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    path = _shared_data_dir()
    if not path.is_dir():
        _missing_data(f"shared data not found at {path} (set SHARED_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def imagenet_sample_dir(shared_data_dir: Path) -> Path:
    path = shared_data_dir / "imagenet-sample"
    if not (path / "labels.csv").is_file():
        _missing_data(f"ImageNet sample not found at {path}")
    return path


@pytest.fixture(scope="session")
def reference_data_dir(shared_data_dir: Path) -> Path:
    path = shared_data_dir / "reference"
    if not path.is_dir():
        _missing_data(f"reference data not found at {path}")
    return path


@pytest.fixture(autouse=True)
def _tasks_in_process_unless_system(request: pytest.FixtureRequest):
    """Unit tests run Celery tasks in-process; system tests send them to a real worker."""
    if request.node.get_closest_marker("system") or not os.environ.get("DJANGO_SETTINGS_MODULE"):
        yield  # pure-core runs (-p no:django) need no Celery app at all
        return
    from studyplatform import celery_app

    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _rate_limits_count_per_test(monkeypatch: pytest.MonkeyPatch):
    """Rate-limit counters live in a cache shared by the whole run (Redis in CI, a process-wide
    memory cache otherwise): salted per test, the 404s and failed logins of earlier tests from
    127.0.0.1 never turn a later test's requests into 429s."""
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        yield  # pure-core runs (-p no:django)
        return
    from studyplatform import ratelimit

    salt = uuid.uuid4().hex[:12]
    original = ratelimit._cache_key
    monkeypatch.setattr(
        ratelimit, "_cache_key", lambda limit, key: original(limit, f"{salt}:{key}")
    )
    yield


# --- object storage: a real S3-compatible server (moto's standalone server from PyPI) ------------


@dataclass
class S3Media:
    """A fresh bucket on the test S3 server, with the settings that point the storage at it."""

    endpoint: str
    bucket: str
    client: Any
    #: the environment a separate process (a Celery worker) needs to use the same bucket
    environ: dict[str, str]

    def list_keys(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class MotoServer:
    """``moto_server`` (from moto[server]) as its own process on a free port of 127.0.0.1."""

    def __init__(self, log_path: Path, **environ: str) -> None:
        port = _free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        command = [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1"]
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "-p", str(port)],
                stdout=log,
                stderr=log,
                env={**os.environ, **environ},
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited: {log_path.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("moto_server did not answer within 60 s") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint URL of a real S3-compatible server for the whole test session."""
    server = MotoServer(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield server.endpoint
    finally:
        server.stop()


def s3_environ(endpoint: str, bucket: str, expire: int = 300) -> dict[str, str]:
    return {
        "MEDIA_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_QUERYSTRING_EXPIRE": str(expire),
    }


@pytest.fixture
def empty_bucket(moto_server: str) -> S3Media:
    """A fresh bucket on the test S3 server; the settings are left as they are."""
    import boto3

    from studyplatform.envconfig import Environment, media_storage

    bucket = f"media-{uuid.uuid4().hex[:12]}"
    environ = s3_environ(moto_server, bucket)
    options: dict[str, Any] = media_storage(Environment(environ))["OPTIONS"]  # type: ignore[assignment]
    client = boto3.client(
        "s3",
        endpoint_url=moto_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
        config=options["client_config"],
    )
    client.create_bucket(Bucket=bucket)
    return S3Media(moto_server, bucket, client, environ)


@pytest.fixture
def s3_media(empty_bucket: S3Media, settings: Any, tmp_path: Path) -> S3Media:
    """Media in a fresh bucket (and an empty ``MEDIA_ROOT`` that must stay empty)."""
    from studyplatform.envconfig import Environment, media_storage

    settings.MEDIA_ROOT = tmp_path / "media-root-unused"
    settings.MEDIA_STORAGE = "s3"
    entry = media_storage(Environment(empty_bucket.environ))
    settings.STORAGES = {**settings.STORAGES, "default": entry}  # resets default_storage
    return empty_bucket
