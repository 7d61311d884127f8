"""Shared test fixtures.

``shared_data_dir`` points at ``../shared/data`` beside the project root (or ``SHARED_DATA_DIR``).
It is present in development and CI; tests that need it are skipped with a clear reason when it is
absent (a fresh clone on another machine), except under ``REQUIRE_SERVICES=1`` (CI, ``make
services-test``): there a missing data folder fails them, so CI cannot pass without running them.
"""

from __future__ import annotations

import os
from pathlib import Path

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
    import uuid

    from studyplatform import ratelimit

    salt = uuid.uuid4().hex[:12]
    original = ratelimit._cache_key
    monkeypatch.setattr(
        ratelimit, "_cache_key", lambda limit, key: original(limit, f"{salt}:{key}")
    )
    yield
