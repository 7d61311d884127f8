"""Secrets stay secret: not in the repository, not in logs, not in the database.

- The repository's tracked files hold no private keys, no signing key, no password in a URL
  beyond documented placeholders, and no ``.env``.
- A production process with a database password, a broker password and a signing key, logging
  at DEBUG, never prints them: not while checking its deployment, not in ``/healthz``, not when
  its services are down or a request is refused.
- A recruiter's raw participant id reaches neither the logs nor the database (not even as a
  query parameter): only its keyed hash does.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
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
PLACEHOLDERS = {"password", "***", "s3cret", "secret", "pw", "${POSTGRES_PASSWORD:-studyplatform}"}
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
