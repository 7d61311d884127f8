"""Secrets stay secret: not in the repository, not in logs, not in the database.

- The repository's tracked files hold no private keys, no signing key, no password in a URL
  beyond documented placeholders, and no ``.env``.
- A production process with a database password, a broker password and a signing key, logging
  at DEBUG, never prints them: not while checking its deployment, not in ``/healthz``, not when
  its services are down or a request is refused.
- A recruiter's raw participant id reaches neither the logs nor the database (not even as a
  query parameter): only its keyed hash does. gunicorn's access log, as every deployment file
  configures it, logs the path without the query string and without the referer.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import os
import re
import secrets
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ..studies.helpers import arrive, finish
from .conftest import World, fresh_client

ROOT = Path(__file__).resolve().parents[2]
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
URL_PASSWORD = re.compile(r"\b[a-z+]+://[^:/\s\"'@]*:([^@/\s\"']+)@")
ASSIGNED_KEY = re.compile(r"SECRET_KEY[\"']?\s*[=:]\s*[\"']([^\"'\s]{20,})[\"']")
# Placeholders in documentation, compose defaults for a local stack, fakes in tests.
PLACEHOLDERS = {
    "password",
    "***",
    "s3cret",
    "secret",
    "pw",
    "p%40ss%3Aword",
    "${POSTGRES_PASSWORD:-studyplatform}",
}
DEV_KEY = "insecure-development-key-only-used-when-DEBUG-is-true"


def tracked_files() -> list[Path]:
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, text=True
        ).stdout
        return [ROOT / name for name in listing.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):  # no git: walk the tree, minus ignored
        skip = {".venv", "var", "media", ".git", "node_modules", "__pycache__"}
        return [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.parts)]


def test_the_repository_holds_no_secrets():
    files = tracked_files()
    assert files
    assert not any(p.name == ".env" for p in files), ".env must never be committed"
    found: list[str] = []
    live_key = settings.SECRET_KEY if settings.SECRET_KEY != DEV_KEY else None
    for path in files:
        try:
            text = path.read_text("utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        where = str(path.relative_to(ROOT))
        if PRIVATE_KEY.search(text):
            found.append(f"{where}: private key")
        for password in URL_PASSWORD.findall(text):
            if password not in PLACEHOLDERS:
                found.append(f"{where}: password in a URL")
        for key in ASSIGNED_KEY.findall(text):
            if key != DEV_KEY:
                found.append(f"{where}: a SECRET_KEY value")
        if live_key and live_key in text:
            found.append(f"{where}: the SECRET_KEY in use")
    assert not found, found


_PROBE = """
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studyplatform.settings")
django.setup()
from django.test import Client
client = Client()
print(client.get("/healthz", HTTP_HOST="studies.example.org", secure=True).content.decode())
print(client.get("/", HTTP_HOST="evil.example.net", secure=True).status_code)
print(client.get("/accounts/login/", HTTP_HOST="studies.example.org").status_code)
"""


def test_a_production_process_never_prints_its_secrets(tmp_path: Path):
    marks = {
        "key": "KEY" + secrets.token_hex(24),
        "db": "DBPW" + secrets.token_hex(8),
        "broker": "MQPW" + secrets.token_hex(8),
    }
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DEBUG": "false",
        "LOG_LEVEL": "DEBUG",
        "SECRET_KEY": marks["key"],
        "ALLOWED_HOSTS": "studies.example.org",
        "DATABASE_URL": f"postgres://app:{marks['db']}@127.0.0.1:9/studyplatform",
        "CELERY_BROKER_URL": f"redis://:{marks['broker']}@127.0.0.1:9/0",
        "STATIC_ROOT": str(tmp_path / "static"),
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    outputs = []
    for command in (
        [sys.executable, "manage.py", "check", "--deploy"],
        [sys.executable, "-c", _PROBE],
    ):
        result = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        outputs.append(result.stdout + result.stderr)
    check, probe = outputs
    assert "broker" in check.lower() or "redis" in check.lower(), check[-2000:]  # it did run
    assert '"status": "unavailable"' in probe or "unavailable" in probe, probe[-2000:]
    for name, mark in marks.items():
        for text in outputs:
            assert mark not in text, f"the {name} secret was printed"


@pytest.mark.django_db
def test_raw_recruiter_ids_reach_neither_logs_nor_database(world: World, caplog):
    raw = "RAWPID" + secrets.token_hex(10)
    session = "RAWSESSION" + secrets.token_hex(6)
    caplog.set_level(logging.DEBUG)
    client = fresh_client()
    with CaptureQueriesContext(connection) as queries:
        url, _ = arrive(client, world.study, PROLIFIC_PID=raw, STUDY_ID="s1", SESSION_ID=session)
        done = finish(client, url)
        again = fresh_client().post(
            f"/api/take/{world.study.link_token}/",
            {"PROLIFIC_PID": raw, "STUDY_ID": "s1", "SESSION_ID": session},
            content_type="application/json",
        )
    assert again.status_code == 200  # recognised by the keyed hash alone: resumed, not new
    assert again.json()["code"] == done.code
    sql = "\n".join(q["sql"] for q in queries.captured_queries)
    assert done.recruiter_hash in sql  # the capture does see parameters
    for value in (raw, session):
        assert value not in sql
        assert value not in caplog.text


def gunicorn_commands() -> dict[str, list[str]]:
    """The gunicorn argument lists of docker-compose.yml, the Dockerfile and the README."""
    import yaml

    found: dict[str, list[str]] = {}
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        command = service.get("command") or []
        words = shlex.split(command) if isinstance(command, str) else list(command)
        if words[:2] == ["sh", "-c"]:
            words = shlex.split(words[2])
        if "gunicorn" in words:
            found[f"docker-compose.yml:{name}"] = words[words.index("gunicorn") + 1 :]
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    cmd = re.search(r"^CMD\s+(\[.*\])\s*$", dockerfile, re.M)
    if cmd and "gunicorn" in json.loads(cmd.group(1)):
        words = json.loads(cmd.group(1))
        found["Dockerfile:CMD"] = words[words.index("gunicorn") + 1 :]
    readme = (ROOT / "README.md").read_text().replace("\\\n", " ")
    for number, line in enumerate(readme.splitlines(), start=1):
        if line.startswith("gunicorn "):
            found[f"README.md:{number}"] = shlex.split(line)[1:]
    return found


def render_access_log(arguments: list[str], environ: dict[str, str]) -> str | None:
    """The access-log line gunicorn writes for one request with ``arguments``; None: no log."""
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    config = Config()
    parsed = config.parser().parse_args(arguments)
    for key, value in vars(parsed).items():
        if value is not None and key != "args":
            config.set(key.lower(), value)
    logger = Logger(config)
    if not logger.access_log_enabled:
        return None
    stream = io.StringIO()
    logger.access_log.handlers = [logging.StreamHandler(stream)]

    class Response:
        status = "302 Found"
        sent = 0
        headers = [("Location", environ["RAW_URI"])]

    headers = [("REFERER", environ["HTTP_REFERER"]), ("USER-AGENT", "probe")]
    logger.access(Response(), headers, environ, datetime.timedelta(milliseconds=7))
    return stream.getvalue()


def test_gunicorn_access_logs_never_show_the_query_string_or_the_referer():
    commands = gunicorn_commands()
    assert "docker-compose.yml:web" in commands, commands  # the test is about something
    raw = "RAWPID" + secrets.token_hex(8)
    came_from = "REFERER" + secrets.token_hex(8)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/take/tok123/?PROLIFIC_PID={raw}&STUDY_ID=s1",
        "PATH_INFO": "/take/tok123/",
        "QUERY_STRING": f"PROLIFIC_PID={raw}&STUDY_ID=s1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"https://app.prolific.com/studies?PROLIFIC_PID={raw}&{came_from}",
    }
    for where, arguments in commands.items():
        line = render_access_log(arguments, environ)
        if line is None:
            continue  # no access log at all
        assert "GET /take/tok123/ " in line, (where, line)  # it logs the request, by path
        assert raw not in line and "PROLIFIC_PID" not in line, (where, line)
        assert came_from not in line and "prolific.com" not in line, (where, line)
    assert render_access_log(commands["docker-compose.yml:web"], environ) is not None
