"""Bad configuration gives one clear line naming the variable, never a traceback."""

import os
import secrets
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What a deployment sets itself, and test-harness state (the browser fixture sets
# DJANGO_ALLOW_ASYNC_UNSAFE for the session, which check --deploy rightly refuses).
SCRUBBED = {"DEBUG", "SECRET_KEY", "DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}


def clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in SCRUBBED}


def run_manage(*args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    env = clean_environment()
    env.update(variables)
    env["DJANGO_SETTINGS_MODULE"] = "studyplatform.settings"
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def production_env(**extra: str) -> dict[str, str]:
    return {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "studies.example.org",
        "DATABASE_URL": "sqlite:////tmp/studyplatform-deploy-check.sqlite3",
        "CELERY_BROKER_URL": "",
        "REDIS_URL": "",
        **extra,
    }


@pytest.mark.parametrize(
    ("variables", "name"),
    [
        ({"DEBUG": "true", "DATABASE_URL": "mysql://nowhere/db"}, "DATABASE_URL"),
        ({"DEBUG": "true", "DATABASE_URL": "postgres://:5432"}, "DATABASE_URL"),
        ({"DEBUG": "false", "SECRET_KEY": ""}, "SECRET_KEY"),
        ({"DEBUG": "true", "CELERY_BROKER_URL": "http://broker"}, "CELERY_BROKER_URL"),
        ({"DEBUG": "true", "EXPLAINERS_DEVICE": "tpu"}, "EXPLAINERS_DEVICE"),
        ({"DEBUG": "true", "MEDIA_STORAGE": "ftp"}, "MEDIA_STORAGE"),
        ({"DEBUG": "true", "MEDIA_STORAGE": "s3"}, "AWS_STORAGE_BUCKET_NAME"),
        (
            {
                "DEBUG": "true",
                "MEDIA_STORAGE": "s3",
                "AWS_STORAGE_BUCKET_NAME": "media",
                "AWS_S3_ENDPOINT_URL": "minio:9000",
            },
            "AWS_S3_ENDPOINT_URL",
        ),
        (
            {
                "DEBUG": "true",
                "MEDIA_STORAGE": "s3",
                "AWS_STORAGE_BUCKET_NAME": "media",
                "AWS_ACCESS_KEY_ID": "studyplatform",
                "AWS_SECRET_ACCESS_KEY": "",
            },
            "AWS_SECRET_ACCESS_KEY",
        ),
    ],
)
def test_bad_configuration_is_one_clear_line(variables, name):
    result = run_manage("check", **variables)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Configuration error:") and name in lines[0]


@pytest.mark.parametrize(
    "key",
    [
        "replace-me",  # .env.example's placeholder
        "insecure-development-key-only-used-when-DEBUG-is-true",
        secrets.token_urlsafe(30),  # 40 characters: under Django's 50
    ],
)
def test_production_refuses_a_published_or_short_secret_key(key):
    result = run_manage("check", **production_env(SECRET_KEY=key))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("Configuration error: SECRET_KEY ")
    assert key not in result.stderr


def free_port() -> int:
    import socket

    with socket.socket() as probe:  # bound, never listening: connections are refused
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("command", [("migrate", "--noinput"), ("createsuperuser", "--noinput")])
def test_unreachable_database_is_one_line_naming_database_url(command):
    port = free_port()
    password = "DBPW-" + secrets.token_hex(6)
    url = "postgres://app:" + password + f"@127.0.0.1:{port}/studyplatform"
    result = run_manage(*command, DEBUG="true", DATABASE_URL=url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Database error: ")
    assert f"DATABASE_URL=postgres://app:***@127.0.0.1:{port}/studyplatform" in lines[0]
    assert password not in result.stdout + result.stderr


def test_traceback_flag_still_shows_the_database_traceback():
    url = f"postgres://app:pw@127.0.0.1:{free_port()}/studyplatform"
    result = run_manage("migrate", "--noinput", "--traceback", DEBUG="true", DATABASE_URL=url)
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "OperationalError" in result.stderr


def test_unreachable_broker_is_named():
    result = run_manage("check_services", DEBUG="true", CELERY_BROKER_URL="redis://127.0.0.1:9/0")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "CELERY_BROKER_URL" in result.stderr and "127.0.0.1:9" in result.stderr


def test_check_deploy_passes_with_production_settings():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **production_env())
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_fails_when_the_broker_is_unreachable():
    result = run_manage(
        "check", "--deploy", **production_env(CELERY_BROKER_URL="redis://127.0.0.1:9/0")
    )
    assert result.returncode != 0
    assert "CELERY_BROKER_URL" in result.stderr


def run_celery(*args: str, timeout: float = 60, **variables: str) -> subprocess.CompletedProcess:
    env = clean_environment()
    env.update(variables)
    celery = Path(sys.executable).with_name("celery")
    try:
        return subprocess.run(
            [str(celery), "-A", "studyplatform", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as expired:  # a worker that keeps retrying its broker
        out = expired.stderr.decode() if isinstance(expired.stderr, bytes) else expired.stderr
        return subprocess.CompletedProcess(expired.cmd, -1, "", out or "")


@pytest.mark.parametrize(
    ("variables", "name"),
    [
        ({"DEBUG": "true", "DATABASE_URL": "mysql://nowhere/db"}, "DATABASE_URL"),
        ({"DEBUG": "false", "SECRET_KEY": ""}, "SECRET_KEY"),
    ],
)
def test_a_worker_with_bad_configuration_says_so_in_one_line(variables, name):
    result = run_celery("worker", "-Q", "default", "--concurrency", "1", **variables)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("Configuration error:") and name in lines[0]


def test_a_worker_names_the_unreachable_broker_at_start_up():
    """The worker keeps retrying its broker, so its error output is read as it comes, until the
    line appears (a busy machine starts Celery slowly: a fixed 12 s window once missed it)."""
    expected = "worker start-up: CELERY_BROKER_URL: cannot reach the Celery broker"
    env = clean_environment()
    env.update(DEBUG="true", CELERY_BROKER_URL="redis://127.0.0.1:9/0")
    celery = Path(sys.executable).with_name("celery")
    command = [str(celery), "-A", "studyplatform", "worker", "-Q", "default", "-l", "INFO"]
    worker = subprocess.Popen(
        [*command, "--concurrency", "1"], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
    )
    seen: list[str] = []
    timer = threading.Timer(90, worker.kill)
    timer.start()
    try:
        assert worker.stderr is not None
        for line in worker.stderr:
            seen.append(line)
            if expected in line:
                break
    finally:
        timer.cancel()
        worker.kill()
        worker.wait()
    assert any(expected in line for line in seen), "".join(seen)


def test_the_wsgi_application_loads_every_view_before_its_first_request():
    """A gunicorn worker imports the URL configuration when it starts: a first request that
    imported the views (and scipy through the analysis) made its participant wait seconds."""
    env = clean_environment()
    env.update(production_env(), DJANGO_SETTINGS_MODULE="studyplatform.settings")
    probe = (
        "import sys; import studyplatform.wsgi; "
        "print(all(m in sys.modules for m in ('studies.api', 'studies.views.participant', "
        "'analysis', 'scipy.stats')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
