"""docker-compose.yml, the Dockerfile and the Makefile agree with the code and the settings.

No Docker engine runs here, so the compose file is checked by parsing it: every service that the
README promises exists, every command names a module, Celery app, queue and management command
that exist, and every environment variable given to the app is one the settings read.
"""

import importlib
import re
import shlex
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands

from studyplatform.envconfig import VARIABLE_NAMES, Environment, media_storage

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("web", "worker", "worker-gpu")


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def command_words(service):
    command = service["command"]
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if words[:2] == ["sh", "-c"]:
        words = shlex.split(words[2])
    return words


def test_services_and_volumes(compose):
    assert set(compose["services"]) == {
        "postgres",
        "redis",
        "minio",
        "minio-bucket",
        "web",
        "worker",
        "worker-gpu",
    }
    assert {"pgdata", "media"} <= set(compose["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]
    for name in APP_SERVICES:
        assert "media:/data/media" in compose["services"][name]["volumes"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_environment_uses_only_variables_the_settings_read(compose, name):
    environment = compose["services"][name]["environment"]
    unknown = set(environment) - VARIABLE_NAMES
    assert not unknown, f"{name} sets variables the settings never read: {unknown}"
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DEBUG"} <= set(environment)
    assert environment["DEBUG"] == "false"
    assert environment["DATABASE_URL"].startswith("postgres://")
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["REDIS_URL"].startswith("redis://redis:6379/")


def test_web_runs_migrations_then_gunicorn_on_the_wsgi_application(compose):
    words = command_words(compose["services"]["web"])
    assert words.index("migrate") < words.index("gunicorn")
    managed = [words[i + 1] for i, w in enumerate(words) if w == "manage.py"]
    assert set(managed) <= set(get_commands()), managed
    target = words[words.index("gunicorn") + 1]
    module, _, attribute = target.partition(":")
    assert module == settings.WSGI_APPLICATION.rsplit(".", 1)[0]
    assert hasattr(importlib.import_module(module), attribute)


def test_web_collects_static_files_before_gunicorn(compose):
    words = command_words(compose["services"]["web"])
    # production's manifest storage answers 500 to every page without collected static files
    assert "collectstatic" in words and words.index("collectstatic") < words.index("gunicorn")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_shell_scripts_are_one_line(compose, name):
    """A newline inside ``sh -c "..."`` ends the command there (the rest runs as another)."""
    command = compose["services"][name]["command"]
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if words[:2] == ["sh", "-c"]:
        assert "\n" not in words[2].strip(), words[2]


def test_ports_are_published_on_the_loopback_interface_only(compose):
    # The site trusts X-Forwarded-*: only the TLS proxy on the same host may reach it.
    published = {
        name: [str(port) for port in service.get("ports", [])]
        for name, service in compose["services"].items()
    }
    assert published["web"] == ["127.0.0.1:8000:8000"]
    for name, ports in published.items():
        for port in ports:
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_readme_deployment_steps_collect_static_files_and_name_the_loopback_port():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Deployment", 1)[1].split("\n## ", 1)[0]
    steps = [line.strip() for line in section.splitlines()]
    migrate = steps.index("python manage.py migrate --noinput")
    collect = next(i for i, s in enumerate(steps) if s.startswith("python manage.py collectstatic"))
    serve = next(i for i, s in enumerate(steps) if s.startswith("gunicorn "))
    assert "--noinput" in steps[collect]
    assert migrate < collect < serve
    assert "127.0.0.1:8000" in section


@pytest.mark.parametrize(("name", "queue"), [("worker", "default"), ("worker-gpu", "gpu")])
def test_workers_consume_the_configured_queues(compose, name, queue):
    words = command_words(compose["services"][name])
    assert words[:4] == ["celery", "-A", "studyplatform", "worker"]
    assert importlib.import_module("studyplatform").celery_app.main == "studyplatform"
    assert words[words.index("-Q") + 1] == queue
    assert queue in {q.name for q in settings.CELERY_TASK_QUEUES}


def test_gpu_worker_reserves_a_gpu_and_takes_one_task_at_a_time(compose):
    service = compose["services"]["worker-gpu"]
    words = command_words(service)
    assert words[words.index("--prefetch-multiplier") + 1] == "1"
    assert words[words.index("--concurrency") + 1] == "1"
    devices = service["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]


def test_gpu_tasks_are_routed_to_the_gpu_queue():
    from studyplatform import celery_app

    route = celery_app.amqp.router.route({}, "explainers.tasks.gpu.device_info")
    assert route["queue"].name == "gpu"
    assert celery_app.amqp.router.route({}, "studyplatform.ping")["queue"].name == "default"


def test_celery_reliability_settings():
    assert settings.CELERY_TASK_ACKS_LATE and settings.CELERY_TASK_REJECT_ON_WORKER_LOST
    assert settings.CELERY_ACCEPT_CONTENT == ["json"]
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    assert 0 < settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT


def test_dockerfile_installs_the_project_and_serves_the_wsgi_app():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", text, re.M)
    assert "pip install ." in text
    assert "studyplatform.wsgi:application" in text


def test_makefile_has_the_readme_commands():
    text = (ROOT / "Makefile").read_text()
    for target in ("demo", "test", "lint", "services-test"):
        assert re.search(rf"^{re.escape(target)}:", text, re.M), target
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme


@pytest.mark.django_db
def test_web_healthcheck_asks_with_a_host_the_production_site_accepts(compose, client, settings):
    from studyplatform.healthcheck import host_header

    test = compose["services"]["web"]["healthcheck"]["test"]
    assert test[:4] == ["CMD", "python", "-m", "studyplatform.healthcheck"]
    importlib.import_module(test[3])
    settings.ALLOWED_HOSTS = ["studies.example.org"]  # as the README's deployment sets it
    assert client.get("/healthz", HTTP_HOST="127.0.0.1").status_code == 400  # the trap
    assert host_header("studies.example.org,www.example.org") == "studies.example.org"
    assert client.get("/healthz", HTTP_HOST=host_header("studies.example.org")).status_code == 200
    settings.ALLOWED_HOSTS = [".example.org"]
    assert client.get("/healthz", HTTP_HOST=host_header(".example.org")).status_code == 200
    assert host_header("*") == host_header("") == "localhost"


def test_healthcheck_exit_status_follows_the_server(live_server, monkeypatch):
    from studyplatform.healthcheck import main

    port = live_server.url.rsplit(":", 1)[1]
    monkeypatch.setenv("ALLOWED_HOSTS", "localhost")
    assert main([port]) == 0
    with __import__("socket").socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert main([str(free)]) == 1


def test_every_gunicorn_command_preloads_the_application():
    """Workers forked from a master that loaded the application share its memory and answer
    their first request at once (bench/load.py runs gunicorn the same way)."""
    from gunicorn.config import Config

    from tests.security.test_secrets import gunicorn_commands

    commands = gunicorn_commands()
    assert {"docker-compose.yml:web", "Dockerfile:CMD"} <= set(commands), commands
    for where, arguments in commands.items():
        parsed = Config().parser().parse_args(arguments)
        assert parsed.preload_app, f"{where}: gunicorn without --preload"


# --- object storage: MinIO in the main file, a GPU worker on a host of its own ------------------

_SUBSTITUTION = re.compile(r"\$\{([A-Z0-9_]+)(?::?([-?]))?([^}]*)\}")


def resolve(value: str, given: dict[str, str]) -> str:
    """Compose's ``${NAME:-default}`` / ``${NAME:?message}`` with the variables in ``given``."""

    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if name in given:
            return given[name]
        assert kind != "?", f"{name} is required: {rest}"
        return rest if kind == "-" else ""

    return _SUBSTITUTION.sub(one, value)


@pytest.fixture(scope="module")
def gpu_worker_compose():
    return yaml.safe_load((ROOT / "docker-compose.gpu-worker.yml").read_text())


def test_minio_runs_in_the_s3_profile_and_its_bucket_is_made_at_start(compose):
    services = compose["services"]
    for name in ("minio", "minio-bucket"):
        assert services[name]["profiles"] == ["s3"], name
    assert "miniodata:/data" in services["minio"]["volumes"] and "miniodata" in compose["volumes"]
    assert services["minio"]["healthcheck"]["test"]
    making = services["minio-bucket"]
    assert making["depends_on"]["minio"]["condition"] == "service_healthy"
    script = making["entrypoint"][2]
    assert 'mc mb --ignore-existing "store/$$BUCKET"' in script
    assert "mc anonymous set none" in script  # the bucket is private: every URL is signed
    app = compose["services"]["web"]["environment"]
    assert making["environment"]["BUCKET"] == app["AWS_STORAGE_BUCKET_NAME"]
    assert making["environment"]["STORE_USER"] == app["AWS_ACCESS_KEY_ID"]
    assert making["environment"]["STORE_PASSWORD"] == app["AWS_SECRET_ACCESS_KEY"]
    assert services["minio"]["environment"]["MINIO_ROOT_USER"] == app["AWS_ACCESS_KEY_ID"]


def test_the_app_services_reach_minio_when_the_s3_profile_is_on(compose):
    given = {
        "SECRET_KEY": "k" * 50,
        "MEDIA_STORAGE": "s3",
        "AWS_SECRET_ACCESS_KEY": "from-the-env-file",
    }
    for name in APP_SERVICES:
        environment = compose["services"][name]["environment"]
        resolved = {key: resolve(str(value), given) for key, value in environment.items()}
        options = media_storage(Environment(resolved))["OPTIONS"]
        assert options["endpoint_url"] == "http://minio:9000", name  # the minio service
        assert options["bucket_name"] == "studyplatform-media"
        assert options["secret_key"] == "from-the-env-file"
    filesystem = {
        key: resolve(str(v), {"SECRET_KEY": "k" * 50})
        for key, v in compose["services"]["web"]["environment"].items()
    }
    assert media_storage(Environment(filesystem))["BACKEND"].endswith("FileSystemStorage")


def test_the_gpu_worker_file_runs_only_a_gpu_worker_on_the_shared_services(gpu_worker_compose):
    assert set(gpu_worker_compose["services"]) == {"worker-gpu"}
    service = gpu_worker_compose["services"]["worker-gpu"]
    environment = service["environment"]
    assert set(environment) <= VARIABLE_NAMES, set(environment) - VARIABLE_NAMES
    assert environment["MEDIA_STORAGE"] == "s3" and environment["DEBUG"] == "false"
    assert "volumes" not in service and "ports" not in service  # no shared disk, nothing served
    for required in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "AWS_S3_ENDPOINT_URL"):
        assert ":?" in environment[required], f"{required} must be given on the GPU host"
    given = {
        "SECRET_KEY": "k" * 50,
        "DATABASE_URL": "postgres://user:password@web-host:5432/studyplatform",
        "REDIS_URL": "redis://web-host:6379/0",
        "AWS_S3_ENDPOINT_URL": "http://web-host:9000",
        "AWS_ACCESS_KEY_ID": "studyplatform",
        "AWS_SECRET_ACCESS_KEY": "from-the-env-file",
    }
    resolved = {key: resolve(str(value), given) for key, value in environment.items()}
    options = media_storage(Environment(resolved))["OPTIONS"]
    assert options["endpoint_url"] == "http://web-host:9000"
    words = command_words(service)
    assert words[:4] == ["python", "manage.py", "check_services", "--wait"]
    assert "check_services" in get_commands()
    celery = words[words.index("exec") + 1 :]
    assert celery[:4] == ["celery", "-A", "studyplatform", "worker"]
    assert celery[celery.index("-Q") + 1] == "gpu"
    assert celery[celery.index("--concurrency") + 1] == "1"
    devices = service["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]


def test_readme_deployment_explains_two_hosts_and_the_backups():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Deployment", 1)[1].split("\n## ", 1)[0]
    for needed in (
        "--profile s3",
        "MEDIA_STORAGE=s3",
        "docker-compose.gpu-worker.yml",
        "pg_dump",
        "mc mirror",
        "copy_media",
    ):
        assert needed in section, needed
