"""The demo's image sets: the photograph views that give the simulation study its outcomes."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from PIL import Image

from explainers.demo import VIEWS, demo_job_ensure, photos_write, progress_bar, views_write
from explainers.models import PrecomputeJob, PrecomputeUnit, SaliencyMap
from explainers.services.classifiers import classifier_zoo_ensure
from explainers.services.image_sets import image_set_import
from explainers.services.precompute import precompute_job_create
from explainers.services.units import precompute_job_dispatch


def test_views_write_crops_every_photograph_four_ways_with_its_label(
    imagenet_sample_dir: Path, tmp_path: Path
):
    sample = tmp_path / "sample"
    sample.mkdir()
    with (imagenet_sample_dir / "labels.csv").open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [next(reader), next(reader)]
    with (sample / "labels.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        shutil.copy(imagenet_sample_dir / row["file"], sample / row["file"])
    out = tmp_path / "views"
    out.mkdir()

    assert views_write(sample, out) == 2 * len(VIEWS)

    with (out / "labels.csv").open(encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert [r["class_index"] for r in written] == [rows[0]["class_index"]] * 4 + [
        rows[1]["class_index"]
    ] * 4
    first = rows[0]
    with Image.open(imagenet_sample_dir / first["file"]) as photo:
        width, height = photo.size
    stem = Path(first["file"]).stem
    for view, (left, top, right, bottom) in VIEWS.items():
        with Image.open(out / f"{stem}__{view}.jpg") as crop:
            assert crop.size == (
                round(right * width) - round(left * width),
                round(bottom * height) - round(top * height),
            ), view
    assert {r["class_name"] for r in written} == {rows[0]["class_name"], rows[1]["class_name"]}


@pytest.fixture
def photo_set(media_root, tmp_path: Path, monkeypatch):
    """The demo's photograph set cut down to one photograph, with the built-in classifier."""
    import explainers.demo as demo

    monkeypatch.setattr(demo, "PHOTOS", demo.PHOTOS[:1])
    monkeypatch.setattr(demo, "METHODS", ("gradcam",))
    monkeypatch.setattr(demo, "METRICS", ())
    classifier = classifier_zoo_ensure(name=demo.CLASSIFIER)
    folder = tmp_path / "photos"
    folder.mkdir()
    assert photos_write(folder, classifier.class_names) == 1
    image_set = image_set_import(name=demo.PHOTOS_SET, source=folder).image_set
    return classifier, image_set


@pytest.mark.django_db
@pytest.mark.slow
def test_a_job_an_interrupted_demo_left_running_is_resumed_not_waited_on(photo_set):
    """Ctrl-C during the first ``make demo``: the job is running, its units queued, and no broker
    message will ever deliver them again. The next run must finish that job."""
    classifier, image_set = photo_set
    # on_commit never fires inside a test transaction: the dispatch message is "lost" ...
    job = precompute_job_create(
        classifier=classifier,
        image_set=image_set,
        methods=["gradcam"],
        targets=["predicted", "truth"],
    )
    # ... and a worker that read it created the units, marked the job running, then was killed.
    assert precompute_job_dispatch(job_id=job.pk)
    job.refresh_from_db()
    assert job.state == PrecomputeJob.State.RUNNING
    assert not SaliencyMap.objects.exists()

    again = demo_job_ensure(classifier=classifier, image_set=image_set, owner=None)

    assert again.pk == job.pk  # resumed, not replaced
    again.refresh_from_db()
    assert again.state == PrecomputeJob.State.DONE, again.errors
    assert (again.completed, again.failed) == (1, 0)
    assert SaliencyMap.objects.filter(image__image_set=image_set, method="gradcam").count() == 1
    assert PrecomputeUnit.objects.filter(job=job, state=PrecomputeUnit.State.QUEUED).count() == 0

    # A finished job is reused as it is: nothing is sent or created again.
    third = demo_job_ensure(classifier=classifier, image_set=image_set, owner=None)
    assert third.pk == job.pk
    assert PrecomputeJob.objects.count() == 1
    assert SaliencyMap.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.slow
def test_a_pending_job_whose_dispatch_was_lost_is_resumed(photo_set):
    classifier, image_set = photo_set
    job = precompute_job_create(
        classifier=classifier,
        image_set=image_set,
        methods=["gradcam"],
        targets=["predicted", "truth"],
    )
    assert job.state == PrecomputeJob.State.PENDING

    again = demo_job_ensure(classifier=classifier, image_set=image_set, owner=None)

    assert again.pk == job.pk
    assert again.state == PrecomputeJob.State.DONE, again.errors
    assert SaliencyMap.objects.filter(image__image_set=image_set).count() == 1


def test_progress_bar_fills_in_proportion():
    assert progress_bar(0, 0) == "[" + "." * 30 + "]    0/0 maps"
    assert progress_bar(5, 10, width=10) == "[#####.....]    5/10 maps"
    assert progress_bar(10, 10, width=4) == "[####]   10/10 maps"
