"""Media in an S3 bucket (``MEDIA_STORAGE=s3``) on a real S3-compatible server (moto_server).

Maps, renders, uploaded images and models land in the bucket and nothing on the disk; the file
views check who asks, then redirect to a short-lived signed URL that the bucket itself serves.
"""

from __future__ import annotations

import io
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.test import Client, override_settings

from explainers import runtime
from explainers.core.render import DEFAULT
from explainers.models import MapRender, PrecomputeJob, SaliencyMap
from explainers.services.classifiers import classifier_upload

from .conftest import stored_files
from .test_classifier_upload import scripted
from .test_precompute import classifier, image_set, run_job  # noqa: F401

pytestmark = [pytest.mark.django_db]
SHOWN = re.compile(r"^s/[0-9a-f]{32}\.(png|jpe?g)$")


def fetch(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read(), {k.lower(): v for k, v in answer.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, error.read(), {k.lower(): v for k, v in error.headers.items()}


@pytest.fixture
def bucket_job(s3_media, media_root, image_set, classifier, django_capture_on_commit_callbacks):  # noqa: F811
    job = run_job(
        django_capture_on_commit_callbacks,
        classifier=classifier,
        image_set=image_set,
        methods=["gradcam"],
        targets=["predicted"],
        presentations=[DEFAULT.to_dict()],
    )
    assert job.state == PrecomputeJob.State.DONE, job.errors
    return job


@pytest.mark.slow
def test_precompute_stores_images_maps_and_renders_in_the_bucket_and_nothing_on_disk(
    bucket_job, s3_media, media_root, settings
):
    keys = s3_media.list_keys()
    maps = list(SaliencyMap.objects.all())
    renders = list(MapRender.objects.all())
    assert maps and len(renders) == len(maps)
    expected = {m.raw.name for m in maps} | {m.image.file.name for m in maps}
    expected |= {r.image.name for r in renders} | {r.heatmap.name for r in renders}
    assert set(keys) == expected
    # every file a participant may see has a keyed name that says nothing of what it shows
    shown = {m.image.file.name for m in maps} | {r.image.name for r in renders}
    shown |= {r.heatmap.name for r in renders}
    assert all(SHOWN.match(name) for name in shown), shown
    assert not stored_files(media_root)
    assert not Path(settings.MEDIA_ROOT).exists() or not stored_files(Path(settings.MEDIA_ROOT))
    stored = s3_media.client.get_object(Bucket=s3_media.bucket, Key=renders[0].image.name)
    assert stored["ContentType"] == "image/png"
    assert stored["Body"].read() == default_storage.open(renders[0].image.name).read()


@pytest.mark.slow
@override_settings(DEBUG=False)
def test_file_views_check_the_caller_then_redirect_to_a_signed_url(bucket_job, s3_media):
    image = SaliencyMap.objects.select_related("image").first().image
    owner = get_user_model().objects.create_user("owner")
    stranger = get_user_model().objects.create_user("stranger")
    image.image_set.owner = owner
    image.image_set.save(update_fields=["owner"])
    as_owner, as_stranger = Client(), Client()
    as_owner.force_login(owner)
    as_stranger.force_login(stranger)

    answer = as_owner.get(f"/files/images/{image.uid}")
    assert answer.status_code == 302
    assert answer["Location"].startswith(f"{s3_media.endpoint}/{s3_media.bucket}/s/")
    assert "X-Amz-Signature=" in answer["Location"] and "X-Amz-Expires=300" in answer["Location"]
    assert "no-store" in answer["Cache-Control"]
    status, data, headers = fetch(answer["Location"])
    assert status == 200
    assert data == default_storage.open(image.file.name).read()
    assert str(image.uid) in headers["content-disposition"]  # the row's name, not the key's

    refused = as_stranger.get(f"/files/images/{image.uid}")
    assert refused.status_code == 404 and "Location" not in refused
    anonymous = Client().get(f"/files/images/{image.uid}")
    assert anonymous.status_code in (401, 403) and "Location" not in anonymous
    # the bucket is private: the key without its signature is refused
    unsigned = answer["Location"].split("?", 1)[0]
    assert fetch(unsigned)[0] == 403


def test_an_uploaded_torchscript_model_is_stored_and_loaded_from_the_bucket(s3_media, media_root):
    owner = get_user_model().objects.create_user("grace")
    data = scripted()
    row = classifier_upload(
        owner=owner,
        name="tiny",
        data=data,
        source="torchscript",
        class_names=["a", "b", "c"],
        input_size=32,
    )
    assert row.file.name in s3_media.list_keys()
    assert not stored_files(media_root)
    runtime.clear_cache()
    model = runtime.core_classifier(row, "cpu")
    logits = model.module(torch.zeros(1, 3, 32, 32))
    expected = torch.jit.load(io.BytesIO(data))(torch.zeros(1, 3, 32, 32))
    assert torch.allclose(logits, expected)
