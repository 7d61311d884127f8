"""Real services for system tests: PostgreSQL, Redis and a Celery worker process.

The tests here run when the settings point at PostgreSQL and Redis (``make services-test`` and CI).
Otherwise they are skipped with the reason, unless ``REQUIRE_SERVICES=1``: then a missing service
is a failure, so CI can never pass by skipping them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _missing_services() -> list[str]:
    missing = []
    if connection.vendor != "postgresql":
        missing.append(f"DATABASE_URL is {connection.vendor}, not PostgreSQL")
    if not str(settings.CELERY_BROKER_URL).startswith("redis"):
        missing.append(f"the broker is {settings.CELERY_BROKER_URL}, not Redis")
    return missing


def skip_unless_required(reason: str) -> None:
    """Skip a system test that cannot run here; with ``REQUIRE_SERVICES=1`` (CI), fail it."""
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(reason + " (REQUIRE_SERVICES=1)")
    pytest.skip(reason + " (run `make services-test`)")


@pytest.fixture(scope="session")
def services() -> None:
    missing = _missing_services()
    if missing:
        skip_unless_required("system tests need PostgreSQL and Redis: " + "; ".join(missing))


def database_url_of_current_connection() -> str:
    """The URL of the database the tests use (pytest-django's test database)."""
    s = connection.settings_dict
    user = quote(s["USER"] or "")
    password = f":{quote(s['PASSWORD'])}" if s["PASSWORD"] else ""
    return f"postgres://{user}{password}@{s['HOST']}:{s['PORT'] or 5432}/{s['NAME']}"


class WorkerProcess:
    """A ``celery worker`` subprocess on the test database and broker."""

    def __init__(self, queues: str = "default,gpu", name: str = "system-test") -> None:
        self.queues = queues
        self.name = f"{name}-{os.getpid()}@%h"
        self.log_path = ROOT / "var" / "log" / f"{name}-worker.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = os.environ.copy()
        env.update(
            DATABASE_URL=database_url_of_current_connection(),
            CELERY_BROKER_URL=str(settings.CELERY_BROKER_URL),
            CELERY_RESULT_BACKEND=str(settings.CELERY_RESULT_BACKEND),
            CELERY_TASK_ALWAYS_EAGER="false",
            DEBUG="true",
        )
        command = [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "studyplatform",
            "worker",
            "-Q",
            self.queues,
            "--concurrency",
            "1",
            "--pool",
            "prefork",
            "-l",
            "INFO",
            "--hostname",
            self.name,
            "--without-gossip",
            "--without-mingle",
        ]
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 90.0) -> None:
        from studyplatform import celery_app

        deadline = time.monotonic() + timeout
        hostname = self.name.replace("%h", os.uname().nodename)
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            replies = celery_app.control.ping(destination=[hostname], timeout=1.0) or []
            if replies:
                return
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self, sig: int) -> None:
        """Signal the worker and its pool processes (its own process group)."""
        assert self.process is not None
        os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def celery_worker_process(services: None, transactional_db: None) -> Iterator[WorkerProcess]:
    """A running worker for both queues; tasks are really sent over Redis."""
    from studyplatform import celery_app

    celery_app.conf.task_always_eager = False
    with celery_app.connection_for_write() as conn:
        for queue in ("default", "gpu"):
            if _queue_exists(conn, queue):
                conn.default_channel.queue_purge(queue)
    worker = WorkerProcess().start()
    try:
        yield worker
    finally:
        worker.stop()


def _queue_exists(conn, queue: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        conn.default_channel.queue_declare(queue=queue, passive=True)
    except Exception:
        return False
    return True
