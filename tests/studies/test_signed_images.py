"""Participants' images by short-lived signed URLs of the bucket (``MEDIA_STORAGE=s3``).

The participant's image view still decides who may see what (the token belongs to one
participant's trials); it answers with a redirect to a URL that the bucket serves and that
expires. The URL, and the bucket's answer, reveal nothing of the trial.
"""

from __future__ import annotations

import hashlib
import re
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from explainers.models import SaliencyMap

from ..explainers.conftest import stored_files
from .conftest import CLASS_NAMES, create_study, make_assets
from .helpers import arrive, walk_to_trials

pytestmark = pytest.mark.django_db
_IMG = re.compile(r'src="(/s/[^"]+/img/[^"]+)"')
SHOWN_KEY = re.compile(r"^s/[0-9a-f]{32}\.png$")


def fetch(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read(), {k.lower(): v for k, v in answer.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, error.read(), {k.lower(): v for k, v in error.headers.items()}


@pytest.fixture
def study_in_bucket(s3_media, media_root, researcher):
    assets = make_assets(n_images=4)
    assets.image_set.owner = researcher
    assets.image_set.save(update_fields=["owner"])
    return create_study(researcher, assets), assets


def sources(client: Client, url: str) -> list[str]:
    found = sorted(set(_IMG.findall(client.get(url).content.decode())))
    assert found, "the trial page shows no image"
    return found


def test_a_participant_gets_each_image_by_a_signed_url_that_reveals_nothing(
    study_in_bucket, s3_media, media_root
):
    study, assets = study_in_bucket
    client = Client()
    url, _ = arrive(client, study)
    walk_to_trials(client, url)
    policy = client.get(url)["Content-Security-Policy"]  # the browser may load them from there
    assert f"img-src 'self' {s3_media.endpoint} data:" in policy
    seen: list[str] = []
    for src in sources(client, url):
        answer = client.get(src)
        assert answer.status_code == 302
        location = answer["Location"]
        assert location.startswith(f"{s3_media.endpoint}/{s3_media.bucket}/")
        assert SHOWN_KEY.match(urlsplit(location).path.split(f"/{s3_media.bucket}/", 1)[1])
        assert "X-Amz-Expires=300" in location
        assert answer["Cache-Control"] == "private, no-store"
        status, data, headers = fetch(location)
        assert status == 200 and data.startswith(b"\x89PNG")
        assert headers["content-type"] == "image/png"
        assert src.rsplit("/", 1)[1] in headers["content-disposition"]  # the token, not the key
        # moto echoes the upload's x-amz-content-sha256: the hash of these very bytes, which
        # the participant has anyway; it is the only header allowed to carry a hash of them
        assert headers.pop("x-amz-content-sha256", hashlib.sha256(data).hexdigest()) == (
            hashlib.sha256(data).hexdigest()
        )
        seen.append(location + "\n" + "\n".join(f"{k}: {v}" for k, v in headers.items()))
    forbidden = [*assets.methods, *CLASS_NAMES, "maps/", "images/", "render", "heatmap"]
    forbidden += [c.name for c in study.conditions.all()]
    for image in assets.images:
        forbidden += [image.original_name, image.sha256[:16]]
    leaks = [(w, text) for text in seen for w in forbidden if w.lower() in text.lower()]
    assert not leaks, [(w, t.splitlines()) for w, t in leaks]
    assert not stored_files(media_root)


def test_a_signed_url_expires(study_in_bucket, s3_media, settings):
    """The URL carries its own lifetime (AWS_QUERYSTRING_EXPIRE), signed from the moment the
    page asked; the redirect itself is never cached, so a page asked again gets a fresh URL.

    moto_server does not enforce the lifetime of a presigned URL (S3, MinIO and Ceph do): what
    is checked here is what the platform controls, the signed lifetime and date."""
    study, _ = study_in_bucket
    default = settings.STORAGES["default"]
    short = {**default, "OPTIONS": {**default["OPTIONS"], "querystring_expire": 7}}
    settings.STORAGES = {**settings.STORAGES, "default": short}
    client = Client()
    url, _ = arrive(client, study)
    walk_to_trials(client, url)
    src = sources(client, url)[0]
    before = datetime.now(UTC).replace(microsecond=0)
    answer = client.get(src)
    query = parse_qs(urlsplit(answer["Location"]).query)
    assert query["X-Amz-Expires"] == ["7"]
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert before <= signed_at <= datetime.now(UTC)
    assert answer["Cache-Control"] == "private, no-store"
    assert fetch(answer["Location"])[0] == 200
    time.sleep(1.1)
    again = client.get(src)["Location"]
    assert again != answer["Location"]  # signed anew, from the new moment
    assert fetch(again)[0] == 200


def test_another_participants_image_token_is_refused_without_a_url(study_in_bucket):
    study, _ = study_in_bucket
    first, second = Client(), Client()
    first_url, _ = arrive(first, study)
    second_url, _ = arrive(second, study)
    walk_to_trials(first, first_url)
    second_participant = walk_to_trials(second, second_url)
    token = sources(first, first_url)[0].rsplit("/", 1)[1]
    borrowed = second.get(f"/s/{second_participant.code}/img/{token}")
    assert borrowed.status_code == 404 and "Location" not in borrowed
    assert Client().get(f"/s/not-a-code/img/{token}").status_code == 404


def test_a_researcher_without_access_gets_no_signed_url(study_in_bucket, s3_media, researcher):
    _, assets = study_in_bucket
    saliency_map = SaliencyMap.objects.filter(image__image_set=assets.image_set).first()
    paths = [
        f"/files/images/{assets.images[0].uid}",
        f"/files/maps/{saliency_map.uid}/overlay",
        f"/files/maps/{saliency_map.uid}/raw",
    ]
    owner, other = Client(), Client()
    owner.force_login(researcher)
    other.force_login(get_user_model().objects.create_user("eve"))
    for path in paths:
        granted = owner.get(path)
        assert granted.status_code == 302, path
        assert fetch(granted["Location"])[0] == 200, path
        refused = other.get(path)
        assert refused.status_code == 404 and "Location" not in refused, path


def test_signed_urls_name_the_public_endpoint_when_it_differs(study_in_bucket, s3_media, settings):
    """Inside compose the platform reaches the store as minio:9000, browsers by another name:
    the URL is signed for that name (moto_server checks no signature; MinIO and S3 do)."""
    study, _ = study_in_bucket
    public = s3_media.endpoint.replace("127.0.0.1", "localhost")
    default = settings.STORAGES["default"]
    options = {**default["OPTIONS"], "public_endpoint_url": public}
    settings.STORAGES = {**settings.STORAGES, "default": {**default, "OPTIONS": options}}
    client = Client()
    url, _ = arrive(client, study)
    walk_to_trials(client, url)
    location = client.get(sources(client, url)[0])["Location"]
    assert location.startswith(f"{public}/{s3_media.bucket}/s/")
    assert f"img-src 'self' {public} data:" in client.get(url)["Content-Security-Policy"]
    status, data, _ = fetch(location)
    assert status == 200 and data.startswith(b"\x89PNG")


def test_a_participant_completes_the_study_and_its_analysis_lands_in_the_bucket(
    study_in_bucket, s3_media, media_root, researcher
):
    from studies.bots import ResponseModel, simulate
    from studies.models import AnalysisRun

    from .helpers import submit

    study, _ = study_in_bucket
    client = Client()
    url, _ = arrive(client, study)
    participant = walk_to_trials(client, url)
    while participant.page in ("practice", "trials"):  # every image of every trial, fetched
        for src in sources(client, url):
            assert fetch(client.get(src)["Location"])[0] == 200
        assert submit(client, participant).status_code == 201
        participant.refresh_from_db()
    for _ in range(6):  # the pages after the trials (debrief…), as the participant posts them
        if participant.page == "complete":
            break
        client.post(url, {"page": participant.page})
        participant.refresh_from_db()
    assert participant.page == "complete"
    simulate(study, n=5, seed=4, model=ResponseModel(effects={"gradcam": 1.0}))

    owner = Client()
    owner.force_login(researcher)
    assert owner.get(f"/studies/{study.uid}/results/").status_code == 200
    run = AnalysisRun.objects.get(study=study)
    assert run.state == "done", run.error
    keys = s3_media.list_keys()
    assert f"{run.folder}/results.csv" in keys and f"{run.folder}/report.html" in keys
    assert not stored_files(media_root)
