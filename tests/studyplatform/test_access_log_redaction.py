"""Participant codes never appear in the access logs of the servers the project ships.

Each server runs as the real command in a subprocess (``manage.py runserver`` as ``make serve``
and ``manage.py demo`` run it, gunicorn with the Dockerfile's options); the test requests
participant URLs and reads the server's own log output.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODE = "Zq7secretCODE42"
PATHS = (
    f"/take/{CODE}/",
    f"/s/{CODE}/",
    f"/api/take/{CODE}/",
    f"/api/participants/{CODE}/",
    f"/api/participants/{CODE}/pages/1/",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A migrated SQLite database of its own, no broker, DEBUG off (as in production)."""
    folder = tmp_path_factory.mktemp("accesslog")
    env = os.environ.copy()
    env.update(
        DEBUG="false",
        SECRET_KEY="access-log-test-" + "k" * 40,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}",
        MEDIA_ROOT=str(folder / "media"),
        STATIC_ROOT=str(folder / "static"),
        CELERY_BROKER_URL="",
        REDIS_URL="",
        CELERY_TASK_ALWAYS_EAGER="true",
        LOG_LEVEL="INFO",
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    yield env


def serve_and_request(command: list[str], env: dict[str, str], port: int, log: Path) -> str:
    """Start ``command``, request every participant path once, stop it, return its output."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        for path in PATHS:
            # an unknown code is 404 (or 405): the log line is what matters
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30).read()
        time.sleep(1.0)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return log.read_text()


def assert_redacted(output: str) -> None:
    """No code in the output; every path is there with the code's placeholder (``/~`` + hex)."""
    assert CODE not in output, output
    for path in PATHS:
        prefix = path[: path.index(CODE)]
        assert f"{prefix}~" in output, (path, output)


def test_runserver_access_log_names_no_participant_code(server_env, tmp_path):
    port = free_port()
    output = serve_and_request(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        server_env, port, tmp_path / "runserver.log",
    )  # fmt: skip
    assert_redacted(output)


def gunicorn_command(port: int) -> list[str]:
    """The Dockerfile's gunicorn command, on a free port and with one worker."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = dockerfile[dockerfile.index("CMD [") + 4 :].replace("\\\n", " ")
    words = [w.strip().strip('"') for w in cmd[1 : cmd.index("]")].split('", ')]
    words = [w.strip('"') for w in words]
    words[words.index("--bind") + 1] = f"127.0.0.1:{port}"
    words[words.index("--workers") + 1] = "1"
    return [str(Path(sys.executable).parent / "gunicorn"), *words[1:]]


def compose_gunicorn_words() -> list[str]:
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    script = compose["services"]["web"]["command"][2]
    words = shlex.split(script)
    return words[words.index("gunicorn") :]


def test_dockerfile_and_compose_run_gunicorn_with_the_redacting_logger():
    for words in (gunicorn_command(8000), compose_gunicorn_words()):
        assert words[words.index("--logger-class") + 1] == "studyplatform.logredact.GunicornLogger"


def test_gunicorn_access_log_names_no_participant_code(server_env, tmp_path):
    port = free_port()
    output = serve_and_request(gunicorn_command(port), server_env, port, tmp_path / "gunicorn.log")
    assert_redacted(output)
