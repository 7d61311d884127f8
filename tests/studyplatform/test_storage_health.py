"""``check_services``, ``/healthz`` and the worker's start-up check report the media storage:
a missing bucket, refused credentials or an unreachable endpoint in one line naming the variable.
Against real moto_server processes (one of them checking credentials)."""

from __future__ import annotations

import socket

import pytest

from studyplatform import health

from ..conftest import MotoServer, s3_environ
from .test_configuration_errors import run_manage

pytestmark = pytest.mark.django_db


def test_the_file_system_storage_is_reported(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    status = health.check_storage()
    assert status.ok and status.detail == f"file system at {tmp_path / 'media'}"
    (tmp_path / "a-file").write_text("")  # a folder cannot be made under a file, even by root
    settings.MEDIA_ROOT = tmp_path / "a-file" / "media"
    refused = health.check_storage()
    assert not refused.ok
    assert refused.detail.startswith("MEDIA_ROOT: cannot write to")


def test_a_bucket_that_exists_is_reported(s3_media):
    status = health.check_storage()
    assert status.ok, status.detail
    assert s3_media.bucket in status.detail and s3_media.endpoint in status.detail
    assert "storage" in {s.name for s in health.check_all()}


def check_services(environ: dict[str, str]) -> list[str]:
    result = run_manage("check_services", DEBUG="true", **environ)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    return result.stderr.strip().splitlines()


def test_check_services_names_a_missing_bucket_in_one_line(moto_server):
    lines = check_services(s3_environ(moto_server, "no-such-bucket"))
    assert len(lines) == 1, lines
    assert "AWS_STORAGE_BUCKET_NAME: the bucket 'no-such-bucket'" in lines[0]
    assert "does not exist" in lines[0]


def test_check_services_names_refused_credentials_in_one_line(tmp_path):
    # This server checks every request's signature against the keys it knows (none).
    server = MotoServer(tmp_path / "moto-auth.log", INITIAL_NO_AUTH_ACTION_COUNT="0")
    try:
        lines = check_services(s3_environ(server.endpoint, "media"))
    finally:
        server.stop()
    assert len(lines) == 1, lines
    assert "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: the bucket 'media'" in lines[0]
    assert "refuses the credentials (HTTP 403" in lines[0]
    assert "testing" not in lines[0].replace("'media'", "")  # the secret is never shown


def test_check_services_names_an_unreachable_endpoint(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lines = check_services(s3_environ(f"http://127.0.0.1:{port}", "media"))
    assert len(lines) == 1, lines
    assert lines[0].count("AWS_S3_ENDPOINT_URL: cannot reach the object storage") == 1
