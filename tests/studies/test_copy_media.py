"""``manage.py copy_media --from filesystem --to s3``: a demo's media moved into a bucket (a real
moto_server), idempotent and resumable, with a count check; the site then works on the bucket."""

from __future__ import annotations

import io
import urllib.request

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from studyplatform.envconfig import Environment, media_storage

from ..explainers.conftest import stored_files
from .conftest import create_study, make_assets
from .helpers import arrive, walk_to_trials

pytestmark = pytest.mark.django_db


def copy(*extra: str) -> str:
    out = io.StringIO()
    call_command(
        "copy_media", "--from", "filesystem", "--to", "s3", "--no-progress", *extra, stdout=out
    )
    return out.getvalue()


@pytest.fixture
def demo_on_disk(media_root, researcher, empty_bucket, monkeypatch):
    for key, value in empty_bucket.environ.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MEDIA_STORAGE", "filesystem")
    assets = make_assets(n_images=3)
    study = create_study(researcher, assets)
    return study, media_root


def test_copy_media_moves_every_file_once_resumes_and_the_site_works_on_the_bucket(
    demo_on_disk, empty_bucket, settings
):
    study, root = demo_on_disk
    names = sorted(str(p.relative_to(root)) for p in stored_files(root))
    assert len(names) > 10
    assert copy().startswith(f"{len(names)} files in filesystem are in s3: {len(names)} copied")
    assert empty_bucket.list_keys() == names
    assert copy().endswith(f"0 copied, {len(names)} already there\n")  # idempotent

    # an interrupted run: one file missing, one cut short
    empty_bucket.client.delete_object(Bucket=empty_bucket.bucket, Key=names[0])
    empty_bucket.client.put_object(Bucket=empty_bucket.bucket, Key=names[1], Body=b"cut")
    assert copy().endswith(f"2 copied, {len(names) - 2} already there\n")
    for name in names[:2]:
        stored = empty_bucket.client.get_object(Bucket=empty_bucket.bucket, Key=name)
        assert stored["Body"].read() == (root / name).read_bytes()

    # the site on the bucket, with the files gone from the disk
    for path in stored_files(root):
        path.unlink()
    settings.MEDIA_STORAGE = "s3"
    entry = media_storage(Environment(empty_bucket.environ))
    settings.STORAGES = {**settings.STORAGES, "default": entry}
    client = Client()
    url, _ = arrive(client, study)
    walk_to_trials(client, url)
    page = client.get(url).content.decode()
    src = page.split('src="/s/', 1)[1].split('"', 1)[0]
    image = client.get("/s/" + src)
    assert image.status_code == 302
    with urllib.request.urlopen(image["Location"], timeout=10) as answer:
        assert answer.read().startswith(b"\x89PNG")


def test_copy_media_refuses_the_same_storage_and_names_a_bad_bucket(demo_on_disk, monkeypatch):
    with pytest.raises(CommandError, match="same storage"):
        call_command("copy_media", "--from", "s3", "--to", "s3")
    monkeypatch.setenv("AWS_STORAGE_BUCKET_NAME", "")
    with pytest.raises(CommandError, match="AWS_STORAGE_BUCKET_NAME"):
        copy()
