"""Each kind of uploaded model, from the upload to a launched study, on real photos.

A tiny three-conv CNN (``tiny_cnn``, 32×32 inputs, three classes) is uploaded through the API as a
``torch.jit.script`` archive, a ``torch.jit.trace`` archive and a ``state_dict`` for its installed
architecture. Photos from the ImageNet sample are uploaded with a labels file of class *names* in
the model's vocabulary. Each model then precomputes one method of every family it supports
(gradient; RISE with few masks; Grad-CAM for the state_dict only) with the iic and dauc metrics
for the predicted and the true class, and a Likert study (justification variant: misclassified
images show the true class's map too) is designed, rendered and launched on the maps.

TorchScript archives run no Python forward hooks: the CAM family and guided backpropagation are
refused when the job is made, with the reason, by the service and the API.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from explainers.models import (
    Classifier,
    FaithfulnessScore,
    ImageSet,
    PrecomputeJob,
    Prediction,
    SaliencyMap,
)
from explainers.services.precompute import JobError, precompute_job_create
from studies.services.studies import (
    design_validate,
    study_create,
    study_renders_make,
    study_transition,
)
from studies.stimuli import check_stimuli

from . import tiny_cnn

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

#: ImageNet-sample photo → its label in the tiny model's vocabulary (spelled as a person might).
PHOTOS = {
    "n02128925_jaguar.JPEG": "cat",
    "n02088094_Afghan_hound.JPEG": "dog",
    "n02090721_Irish_wolfhound.JPEG": "Dog",
    "n01530575_brambling.JPEG": "bird",
}
CLASS_INDEX = {"cat": 0, "dog": 1, "bird": 2}
RISE = {"n_masks": 64, "grid": 4, "batch_size": 32}  # small: the test is about the plumbing
METRICS = ["iic", "dauc"]


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user("uma", password="pw-uma-uma-uma")


@pytest.fixture
def api(owner) -> APIClient:
    client = APIClient()
    client.force_authenticate(owner)
    return client


def named(data: bytes, name: str) -> io.BytesIO:
    buffer = io.BytesIO(data)
    buffer.name = name
    return buffer


def upload_photos(api: APIClient, sample: Path) -> ImageSet:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for name in PHOTOS:
            zipped.writestr(name, (sample / name).read_bytes())
    labels = "file,label\n" + "".join(f"{f},{label}\n" for f, label in PHOTOS.items())
    response = api.post(
        "/api/image-sets/upload/",
        {
            "name": "photos",
            "archive": named(archive.getvalue(), "photos.zip"),
            "labels": named(labels.encode(), "labels.csv"),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert sorted(response.json()["added"]) == sorted(PHOTOS)
    return ImageSet.objects.get(pk=response.json()["image_set"]["id"])


KINDS: dict[str, tuple[str, Callable[[], bytes], str, str]] = {
    # kind: (source, archive, architecture, target_layer)
    "script": ("torchscript", tiny_cnn.scripted, "", ""),
    "trace": ("torchscript", tiny_cnn.traced, "", ""),
    "state_dict": ("state_dict", tiny_cnn.state_dict, tiny_cnn.ARCH, tiny_cnn.TARGET_LAYER),
}
#: One method of each family the kind supports (TorchScript: no hooks, so no CAM).
METHODS = {
    "script": ["gradient", "rise"],
    "trace": ["gradient", "rise"],
    "state_dict": ["gradient", "rise", "gradcam"],
}


def upload_model(api: APIClient, kind: str) -> Classifier:
    source, archive, architecture, target_layer = KINDS[kind]
    response = api.post(
        "/api/classifiers/upload/",
        {
            "name": f"tiny-{kind}",
            "source": source,
            "file": named(archive(), "model.pt"),
            "class_names": tiny_cnn.CLASSES,
            "architecture": architecture,
            "target_layer": target_layer,
            "input_size": tiny_cnn.INPUT_SIZE,
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    row = Classifier.objects.get(pk=response.json()["id"])
    assert (row.source, row.class_names, row.input_size) == (source, tiny_cnn.CLASSES, 32)
    return row


def job_request(classifier: Classifier, image_set: ImageSet, methods: list[str]) -> dict:
    return {
        "classifier": classifier.pk,
        "image_set": image_set.pk,
        "methods": methods,
        "metrics": METRICS,
        "targets": ["predicted", "truth"],
        "options": {"rise": RISE} if "rise" in methods else {},
        "batch_size": 4,
    }


@pytest.mark.parametrize("kind", list(KINDS))
def test_upload_precompute_and_launch_a_study(
    kind, media_root, api, owner, imagenet_sample_dir, django_capture_on_commit_callbacks
):
    classifier = upload_model(api, kind)
    image_set = upload_photos(api, imagenet_sample_dir)
    methods = METHODS[kind]

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/jobs/", job_request(classifier, image_set, methods), format="json"
        )
    assert response.status_code == 201, response.json()
    job = PrecomputeJob.objects.get(pk=response.json()["id"])
    assert response.json()["warnings"] == []  # every label names one of the model's classes
    assert job.state == PrecomputeJob.State.DONE, job.errors
    assert (job.total, job.completed, job.failed) == (4 * len(methods), 4 * len(methods), 0)

    # One map per method for the predicted and the true class (one when they are the same),
    # the true class being the labels' names in the model's classes.
    predictions = {
        p.image.original_name: p for p in Prediction.objects.filter(classifier=classifier)
    }
    assert set(predictions) == set(PHOTOS)
    for method in methods:
        maps = SaliencyMap.objects.filter(classifier=classifier, method=method)
        found = {(m.image.original_name, m.target_class) for m in maps}
        expected = {
            (name, cls)
            for name, label in PHOTOS.items()
            for cls in (predictions[name].predicted_class, CLASS_INDEX[label.casefold()])
        }
        assert found == expected, method
    scores = FaithfulnessScore.objects.filter(saliency_map__classifier=classifier)
    n_maps = SaliencyMap.objects.filter(classifier=classifier).count()
    assert scores.count() == len(METRICS) * n_maps
    assert {s.metric for s in scores} == set(METRICS)
    assert scores.exclude(value=None).exists()

    design = design_validate(
        protocol="likert",
        configuration={"variant": "justification"},
        flow={},
        stimuli={"methods": methods, "images": "all"},
        classifier=classifier,
        image_set=image_set,
        user=owner,
    )
    study = study_create(owner=owner, title=f"Tiny {kind}", design=design)
    from studies.protocols import get_protocol

    check = check_stimuli(
        classifier=classifier,
        image_set=image_set,
        selection=study.stimuli_selection,
        protocol=get_protocol("likert"),
        config=study.configuration,
    )
    assert not check.missing_maps and not check.problems, check.messages()
    assert {i.label_index for i in check.as_items()} == {0, 1, 2}  # truth from the names
    assert study_renders_make(study=study) > 0
    study = study_transition(study=study, actor=owner, action="launch")
    assert study.state == "live"


@pytest.mark.parametrize("kind", ["script", "trace"])
def test_torchscript_models_refuse_hooked_methods_when_the_job_is_made(
    kind, media_root, api, owner, imagenet_sample_dir
):
    classifier = upload_model(api, kind)
    image_set = upload_photos(api, imagenet_sample_dir)
    with pytest.raises(JobError) as refused:
        precompute_job_create(
            classifier=classifier,
            image_set=image_set,
            methods=["gradient", "gradcam", "scorecam", "guided_backprop"],
        )
    message = str(refused.value)
    assert message.startswith("methods: gradcam cannot run on tiny-")
    assert "scorecam cannot run" in message and "guided_backprop cannot run" in message
    assert "gradient cannot" not in message
    assert "does not support Python forward hooks" in message and "upload a state_dict" in message

    response = api.post(
        "/api/jobs/", job_request(classifier, image_set, ["gradcam"]), format="json"
    )
    assert response.status_code == 400
    (reason,) = response.json()["error"]["details"]["methods"]
    assert "gradcam cannot run on" in reason and "forward hooks" in reason
    assert not PrecomputeJob.objects.exists()


def test_the_api_names_the_field_of_a_refused_upload(media_root, api):
    response = api.post(
        "/api/classifiers/upload/",
        {
            "name": "tiny-bad-layer",
            "source": "state_dict",
            "file": named(tiny_cnn.state_dict(), "model.pt"),
            "class_names": tiny_cnn.CLASSES,
            "architecture": tiny_cnn.ARCH,
            "target_layer": "head",  # a linear layer: no feature maps for Grad-CAM
            "input_size": tiny_cnn.INPUT_SIZE,
        },
        format="multipart",
    )
    assert response.status_code == 400
    (message,) = response.json()["error"]["details"]["target_layer"]
    assert "'head' outputs" in message
    assert not Classifier.objects.exists()
