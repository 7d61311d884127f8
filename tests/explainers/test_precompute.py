"""Precompute jobs with tasks run in-process: maps, scores and predictions stored once each."""

from __future__ import annotations

import re

import pytest
import torch

from explainers.models import (
    FaithfulnessScore,
    Image,
    PrecomputeJob,
    PrecomputeUnit,
    Prediction,
    SaliencyMap,
)
from explainers.services import map_storage
from explainers.services.classifiers import classifier_zoo_ensure
from explainers.services.image_sets import image_set_import
from explainers.services.precompute import JobError, precompute_job_create

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
FILES = ["n01440764_tench.JPEG", "n01530575_brambling.JPEG", "n01601694_water_ouzel.JPEG"]


@pytest.fixture
def image_set(media_root, imagenet_sample_dir, tmp_path):
    folder = tmp_path / "few"
    folder.mkdir()
    lines = ["file,class_index"]
    labels = {
        row.split(",")[0]: row.split(",")[1]
        for row in (imagenet_sample_dir / "labels.csv").read_text().splitlines()[1:]
    }
    for name in FILES:
        (folder / name).write_bytes((imagenet_sample_dir / name).read_bytes())
        lines.append(f"{name},{labels[name]}")
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    return image_set_import(name="few", source=folder).image_set


@pytest.fixture
def classifier(db):
    return classifier_zoo_ensure(name="efficientnet_lite0")


def run_job(captured, **kwargs):
    with captured(execute=True):
        job = precompute_job_create(**kwargs)
    job.refresh_from_db()
    return job


def test_job_computes_everything_once_and_a_rerun_computes_nothing(
    image_set, classifier, django_capture_on_commit_callbacks, monkeypatch
):
    request = dict(
        classifier=classifier,
        image_set=image_set,
        methods=["gradcam", "gradient"],
        metrics=["dauc", "iic"],
        targets=["predicted", "truth"],
        batch_size=2,
    )
    job = run_job(django_capture_on_commit_callbacks, **request)
    assert job.state == PrecomputeJob.State.DONE, job.errors
    assert (job.total, job.completed, job.failed) == (6, 6, 0)
    assert Prediction.objects.filter(classifier=classifier).count() == 3
    targets = {
        (p.image_id, t)
        for p in Prediction.objects.all()
        for t in (p.predicted_class, p.image.label_index)
    }
    assert SaliencyMap.objects.count() == 2 * len(targets)
    assert FaithfulnessScore.objects.count() == 2 * SaliencyMap.objects.count()
    saliency = SaliencyMap.objects.filter(method="gradcam").first()
    assert map_storage.load_raw(saliency.raw.name).shape == (saliency.height, saliency.width)
    assert not saliency.overlay and not saliency.renders.exists()  # rendering is not its work
    assert saliency.parameters["seed"] == 0 and saliency.versions["torch"].startswith("2.13")
    # Opaque names: nothing about the method, the class or the image in a file name.
    assert re.fullmatch(r"maps/raw/[0-9a-f]{32}\.npy", saliency.raw.name), saliency.raw.name

    counts = (SaliencyMap.objects.count(), FaithfulnessScore.objects.count())
    rows = {
        "maps": set(SaliencyMap.objects.values_list("id", "created_at")),
        "scores": set(FaithfulnessScore.objects.values_list("id", "value")),
        "predictions": set(Prediction.objects.values_list("id", "created_at")),
    }
    # Unique constraints would keep the counts equal even if everything were recomputed: count
    # the engine's calls instead (no map, score or prediction may be computed again).
    from explainers import core
    from explainers.core import Classifier as CoreClassifier

    engine_calls: list[str] = []

    def counting(name, real):
        def wrapper(*args, **kwargs):
            engine_calls.append(name)
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(core, "explain", counting("explain", core.explain))
    monkeypatch.setattr(core, "faithfulness", counting("faithfulness", core.faithfulness))
    monkeypatch.setattr(
        CoreClassifier, "probabilities", counting("probabilities", CoreClassifier.probabilities)
    )
    again = run_job(django_capture_on_commit_callbacks, **request)
    assert again.state == PrecomputeJob.State.DONE
    assert (again.completed, again.failed) == (6, 0)
    assert engine_calls == []
    assert (SaliencyMap.objects.count(), FaithfulnessScore.objects.count()) == counts
    assert rows == {
        "maps": set(SaliencyMap.objects.values_list("id", "created_at")),
        "scores": set(FaithfulnessScore.objects.values_list("id", "value")),
        "predictions": set(Prediction.objects.values_list("id", "created_at")),
    }


def test_a_batch_runs_its_methods_one_after_another_and_decodes_each_image_once(
    image_set, classifier, django_capture_on_commit_callbacks, monkeypatch
):
    from explainers import runtime
    from explainers.services import compute

    opened: list[int] = []
    real_open = compute._open_rgb

    def counting_open(image):
        opened.append(image.pk)
        return real_open(image)

    monkeypatch.setattr(compute, "_open_rgb", counting_open)
    runtime.forget_inputs()
    job = run_job(
        django_capture_on_commit_callbacks,
        classifier=classifier,
        image_set=image_set,
        methods=["gradcam", "gradient"],
        metrics=["dauc"],
        batch_size=2,
    )
    assert job.state == PrecomputeJob.State.DONE, job.errors
    units = list(job.units.order_by("id").values_list("method", "image_ids"))
    ids = sorted(Image.objects.values_list("id", flat=True))
    assert [m for m, _ in units] == ["gradcam", "gradient", "gradcam", "gradient"]
    assert [i for _, i in units] == [ids[:2], ids[:2], ids[2:], ids[2:]]
    # predictions, two methods and their scores: every image decoded once for all of them
    assert sorted(opened) == sorted(Image.objects.values_list("id", flat=True))


def test_model_inputs_follow_the_file_and_stay_bounded(image_set, classifier, monkeypatch):
    from explainers import runtime
    from explainers.services.compute import _open_rgb

    runtime.forget_inputs()
    images = list(Image.objects.order_by("id"))
    loads: list[int] = []

    def load(image):
        loads.append(image.pk)
        return _open_rgb(image)

    views, x = runtime.model_inputs(classifier, images, load)
    assert x.shape == (3, 3, 224, 224) and [v.size for v in views] == [(224, 224)] * 3
    again_views, again_x = runtime.model_inputs(classifier, images[::-1], load)
    assert len(loads) == 3 and again_views == views[::-1]
    assert torch.equal(again_x, x.flip(0))
    images[0].sha256 = "0" * 64  # another file under the same row: never the kept input
    runtime.model_inputs(classifier, images[:1], load)
    assert len(loads) == 4
    monkeypatch.setattr(runtime, "INPUT_CACHE_SIZE", 2)
    runtime.model_inputs(classifier, images, load)
    assert len(runtime._inputs) == 2
    # each kept input owns its memory (a row of a batch would keep the whole batch alive)
    storages = {kept.untyped_storage().data_ptr() for _, kept in runtime._inputs.values()}
    assert len(storages) == 2


def test_map_rows_inserted_by_another_delivery_are_not_inserted_again(
    image_set, classifier, django_capture_on_commit_callbacks
):
    from explainers.services.result_storage import save_map_rows

    run_job(
        django_capture_on_commit_callbacks,
        classifier=classifier,
        image_set=image_set,
        methods=["gradcam"],
        batch_size=3,
    )
    stored = list(SaliencyMap.objects.order_by("id"))
    fields = [f.attname for f in SaliencyMap._meta.concrete_fields if f.attname != "id"]
    copies = [SaliencyMap(**{name: getattr(m, name) for name in fields}) for m in stored]
    assert save_map_rows(copies) == 0
    assert list(SaliencyMap.objects.order_by("id")) == stored
    assert save_map_rows([]) == 0
    stored[0].delete()  # one missing, two stored by another delivery: only the missing one
    again = [SaliencyMap(**{name: getattr(m, name) for name in fields}) for m in stored]
    assert save_map_rows(again) == 1
    assert SaliencyMap.objects.count() == len(stored)


def test_a_failing_unit_is_recorded_and_the_rest_of_the_job_goes_on(
    image_set, classifier, django_capture_on_commit_callbacks, monkeypatch
):
    from explainers import core

    real_explain = core.explain

    def flaky(clf, x, method, **kwargs):
        if method == "gradient":
            raise RuntimeError("simulated GPU fault")
        return real_explain(clf, x, method, **kwargs)

    monkeypatch.setattr(core, "explain", flaky)
    job = run_job(
        django_capture_on_commit_callbacks,
        classifier=classifier,
        image_set=image_set,
        methods=["gradient", "gradcam"],
        batch_size=3,
    )
    assert job.state == PrecomputeJob.State.FAILED
    assert (job.completed, job.failed) == (3, 3)
    assert "simulated GPU fault" in job.errors[0]["error"]
    assert SaliencyMap.objects.filter(method="gradcam").count() == 3
    assert not SaliencyMap.objects.filter(method="gradient").exists()
    unit = PrecomputeUnit.objects.get(job=job, method="gradient")
    assert unit.state == PrecomputeUnit.State.FAILED and unit.attempts == 1


def test_a_unit_delivered_twice_is_counted_once(
    image_set, classifier, django_capture_on_commit_callbacks
):
    from explainers.tasks.gpu import compute_unit

    job = run_job(
        django_capture_on_commit_callbacks,
        classifier=classifier,
        image_set=image_set,
        methods=["gradcam"],
        batch_size=3,
    )
    unit = job.units.get()
    result = compute_unit.apply(args=[unit.pk]).get()
    assert result["skipped"] is True
    job.refresh_from_db()
    assert (job.completed, job.total) == (3, 3)
    assert SaliencyMap.objects.count() == 3


def test_cancelled_job_computes_nothing_more(
    image_set, classifier, django_capture_on_commit_callbacks
):
    from explainers.services.precompute import precompute_job_cancel
    from explainers.services.units import precompute_job_dispatch
    from explainers.tasks.gpu import compute_unit

    job = precompute_job_create(classifier=classifier, image_set=image_set, methods=["gradcam"])
    units = precompute_job_dispatch(job_id=job.pk)
    precompute_job_cancel(job=job)
    assert compute_unit.apply(args=[units[0]]).get()["skipped"] is True
    assert not SaliencyMap.objects.exists()
    assert PrecomputeJob.objects.get(pk=job.pk).state == PrecomputeJob.State.CANCELLED


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"methods": []}, "methods: choose"),
        ({"methods": ["magic"]}, "methods: unknown magic"),
        ({"methods": ["gradcam"], "metrics": ["accuracy"]}, "metrics: unknown accuracy"),
        ({"methods": ["gradcam"], "targets": ["random"]}, "targets"),
        ({"methods": ["gradcam"], "options": {"rise": {}}}, "options: given for methods"),
        ({"methods": ["gradcam"], "batch_size": 0}, "batch_size"),
        (
            {
                "methods": ["integrated_gradients"],
                "options": {"integrated_gradients": {"bogus": 1}},
            },
            "options for integrated_gradients",
        ),
    ],
)
def test_bad_requests_are_refused_and_create_nothing(image_set, classifier, kwargs, message):
    with pytest.raises(JobError, match=message):
        precompute_job_create(classifier=classifier, image_set=image_set, **kwargs)
    assert not PrecomputeJob.objects.exists()


def test_truth_target_needs_labels(media_root, classifier, tmp_path):
    folder = tmp_path / "unlabelled"
    folder.mkdir()
    from .conftest import png_bytes

    (folder / "a.png").write_bytes(png_bytes((64, 64)))
    image_set = image_set_import(name="u", source=folder).image_set
    assert Image.objects.filter(image_set=image_set, label_index__isnull=True).count() == 1
    with pytest.raises(JobError, match="no ground-truth labels"):
        precompute_job_create(
            classifier=classifier, image_set=image_set, methods=["gradcam"], targets=["truth"]
        )
