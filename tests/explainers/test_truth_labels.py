"""Ground truth given as class names: resolved against the job's classifier, unmatched reported.

An image set uploaded with ``file,label`` names and no ``classes_of`` stores the names only (no
index): which class a name means depends on the classifier, so a precompute job resolves them
against its classifier's ``class_names`` (case and ``_``/``-`` aside), and reports by file the
labels that name none of its classes.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from explainers.models import Classifier, Image, ImageSet, PrecomputeJob, SaliencyMap
from explainers.services.classifiers import classifier_upload
from explainers.services.precompute import JobError, precompute_job_create

from . import tiny_cnn
from .conftest import png_bytes

pytestmark = pytest.mark.django_db

#: file → label as a person writes it (the classifier spells "dog"); zebra is no class of it.
LABELS = {"cat.png": "cat", "dog.png": "Dog", "bird.png": "bird", "zebra.png": "zebra"}
COLOURS = {"cat.png": (200, 40, 40), "dog.png": (40, 200, 40), "bird.png": (40, 40, 200)}


def archive(labels: dict[str, str]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for k, name in enumerate(labels):
            zipped.writestr(name, png_bytes((48, 48), COLOURS.get(name, (k * 50, 120, 7))))
    buffer.seek(0)
    buffer.name = "photos.zip"
    return buffer


def labels_csv(labels: dict[str, str]) -> io.BytesIO:
    text = "file,label\n" + "".join(f"{f},{label}\n" for f, label in labels.items())
    buffer = io.BytesIO(text.encode())
    buffer.name = "labels.csv"
    return buffer


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user("ada", password="pw-ada-ada-ada")


@pytest.fixture
def api(owner) -> APIClient:
    client = APIClient()
    client.force_authenticate(owner)
    return client


def upload_images(api: APIClient, name: str, labels: dict[str, str]) -> ImageSet:
    response = api.post(
        "/api/image-sets/upload/",
        {"name": name, "archive": archive(labels), "labels": labels_csv(labels)},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    return ImageSet.objects.get(name=name)


def tiny(owner, name: str = "tiny", class_names: list[str] | None = None) -> Classifier:
    return classifier_upload(
        owner=owner,
        name=name,
        data=tiny_cnn.scripted(),
        source="torchscript",
        class_names=class_names or tiny_cnn.CLASSES,
        input_size=tiny_cnn.INPUT_SIZE,
    )


@pytest.fixture
def photos(media_root, api) -> ImageSet:
    image_set = upload_images(api, "My photos", LABELS)
    # as uploaded: the names are stored, no index (no classes_of was given)
    assert set(image_set.images.values_list("label", "label_index")) == {
        (label, None) for label in LABELS.values()
    }
    return image_set


def truth_maps(classifier: Classifier) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for name, target in SaliencyMap.objects.filter(classifier=classifier).values_list(
        "image__original_name", "target_class"
    ):
        found.setdefault(name, set()).add(target)
    return found


def test_name_labels_give_true_class_maps_for_each_classifier_and_unmatched_are_reported(
    photos, owner, django_capture_on_commit_callbacks
):
    classifier = tiny(owner)
    with django_capture_on_commit_callbacks(execute=True):
        job = precompute_job_create(
            classifier=classifier,
            image_set=photos,
            methods=["gradient"],
            targets=["truth"],
            owner=owner,
        )
    job.refresh_from_db()
    assert job.state == PrecomputeJob.State.DONE, job.errors
    assert truth_maps(classifier) == {"cat.png": {0}, "dog.png": {1}, "bird.png": {2}}
    (warning,) = job.warnings
    assert "1 image(s) of 'My photos'" in warning and "zebra.png ('zebra')" in warning
    assert "cat.png" not in warning

    # The same image set for a classifier with the classes in another order: its own indices.
    # Nothing was written into the images: the first classifier's indices are not theirs.
    assert not Image.objects.filter(image_set=photos, label_index__isnull=False).exists()
    other = tiny(owner, "tiny-reordered", ["bird", "cat", "dog"])
    with django_capture_on_commit_callbacks(execute=True):
        precompute_job_create(
            classifier=other, image_set=photos, methods=["gradient"], targets=["truth"]
        )
    assert truth_maps(other) == {"cat.png": {1}, "dog.png": {2}, "bird.png": {0}}


def test_an_explicit_index_wins_over_the_name(photos, owner):
    """A stored index (given, or resolved at import with classes_of) is kept: names are not
    unique in every class list (ImageNet has two classes called 'crane')."""
    from explainers.services.image_sets import true_classes

    Image.objects.filter(original_name="cat.png").update(label_index=2)
    classifier = tiny(owner)
    truth = true_classes(classifier, photos.images.all())
    assert {i.original_name: truth[i.pk] for i in photos.images.all()} == {
        "cat.png": 2,
        "dog.png": 1,
        "bird.png": 2,
        "zebra.png": None,
    }


def test_labels_that_match_no_class_refuse_the_truth_target_naming_each_file(
    media_root, api, owner
):
    image_set = upload_images(api, "Strangers", {"a.png": "zebra", "b.png": "okapi"})
    classifier = tiny(owner)
    with pytest.raises(JobError) as refused:
        precompute_job_create(
            classifier=classifier, image_set=image_set, methods=["gradient"], targets=["truth"]
        )
    message = str(refused.value)
    assert message.startswith("targets: no ground-truth label of image set 'Strangers' names")
    assert "a.png ('zebra')" in message and "b.png ('okapi')" in message
    assert "its classes: cat, dog, bird" in message
    assert not PrecomputeJob.objects.exists()
    # the predicted class needs no labels
    precompute_job_create(classifier=classifier, image_set=image_set, methods=["gradient"])


def test_the_api_reports_unmatched_labels_by_file(photos, api, owner, media_root):
    classifier = tiny(owner)
    response = api.post(
        "/api/jobs/",
        {
            "classifier": classifier.pk,
            "image_set": photos.pk,
            "methods": ["gradient"],
            "targets": ["truth"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    (warning,) = response.json()["warnings"]
    assert "zebra.png ('zebra')" in warning

    strangers = upload_images(api, "Strangers", {"a.png": "zebra"})
    response = api.post(
        "/api/jobs/",
        {
            "classifier": classifier.pk,
            "image_set": strangers.pk,
            "methods": ["gradient"],
            "targets": ["truth"],
        },
        format="json",
    )
    assert response.status_code == 400
    (message,) = response.json()["error"]["details"]["targets"]
    assert "a.png ('zebra')" in message


@pytest.mark.django_db(transaction=True)
def test_the_precompute_command_computes_true_class_maps_and_warns_by_file(photos, owner):
    classifier = tiny(owner)
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "precompute",
        "--image-set",
        "My photos",
        "--classifier",
        "tiny",
        "--methods",
        "gradient",
        "--targets",
        "truth",
        "--wait",
        stdout=out,
        stderr=err,
    )
    assert "done" in out.getvalue()
    assert "warning: truth: 1 image(s)" in err.getvalue()
    assert "zebra.png ('zebra')" in err.getvalue()
    assert truth_maps(classifier) == {"cat.png": {0}, "dog.png": {1}, "bird.png": {2}}

    ImageSet.objects.filter(pk=photos.pk).update(name="renamed")
    Image.objects.filter(image_set=photos).exclude(original_name="zebra.png").delete()
    with pytest.raises(CommandError, match=r"zebra\.png \('zebra'\)"):
        call_command(
            "precompute",
            "--image-set",
            "renamed",
            "--classifier",
            "tiny",
            "--methods",
            "gradient",
            "--targets",
            "truth",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )


def test_the_gallery_compares_predictions_with_the_names_true_class(
    photos, owner, django_capture_on_commit_callbacks
):
    from explainers.gallery import gallery_page
    from explainers.models import Prediction

    classifier = tiny(owner)
    with django_capture_on_commit_callbacks(execute=True):
        precompute_job_create(
            classifier=classifier,
            image_set=photos,
            methods=["gradient"],
            targets=["predicted", "truth"],
        )
    truth = {"cat.png": 0, "dog.png": 1, "bird.png": 2}  # zebra.png: no class of the model
    predicted = dict(
        Prediction.objects.filter(classifier=classifier).values_list(
            "image__original_name", "predicted_class"
        )
    )
    ids = {"classifier_uid": str(classifier.uid), "image_set_uid": str(photos.uid)}

    def shown(**kwargs) -> dict[str, bool | None]:
        page = gallery_page(user=owner, **ids, **kwargs)
        assert page is not None
        return {row.image.original_name: row.correct for row in page.rows}

    assert shown(show="correct") == {n: True for n, t in truth.items() if predicted[n] == t}
    assert shown(show="misclassified") == {n: False for n, t in truth.items() if predicted[n] != t}
    assert shown()["zebra.png"] is None
    page = gallery_page(user=owner, target="truth", **ids)
    assert page is not None
    cells = {row.image.original_name: row.cells[0].map for row in page.rows}
    assert {n: m.target_class for n, m in cells.items() if m is not None} == truth
    assert cells["zebra.png"] is None
