"""Precompute through real workers over Redis and PostgreSQL, including a worker killed mid-job."""

from __future__ import annotations

import shutil
import signal
import time

import pytest
from django.db.models import Count

from explainers.models import PrecomputeJob, SaliencyMap
from explainers.services.classifiers import classifier_zoo_ensure
from explainers.services.image_sets import image_set_import
from explainers.services.precompute import precompute_job_create

from .conftest import WorkerProcess

pytestmark = [pytest.mark.system, pytest.mark.slow]


@pytest.fixture
def shared_media(settings, tmp_path):
    """Media folder shared by the test process and the worker processes."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def eight_images(services, transactional_db, shared_media, imagenet_sample_dir, tmp_path):
    folder = tmp_path / "eight"
    folder.mkdir()
    lines = (imagenet_sample_dir / "labels.csv").read_text().splitlines()
    (folder / "labels.csv").write_text("\n".join(lines[:9]) + "\n")
    for line in lines[1:9]:
        name = line.split(",")[0]
        shutil.copy(imagenet_sample_dir / name, folder / name)
    return image_set_import(name="eight", source=folder).image_set


def wait_for(job: PrecomputeJob, condition, timeout: float, worker: WorkerProcess) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if condition(job):
            return
        time.sleep(0.5)
    raise AssertionError(f"job stuck at {job.state} {job.completed}/{job.total}\n{worker.log()}")


def test_worker_killed_mid_job_then_a_new_worker_finishes_it_exactly_once(
    eight_images, shared_media, monkeypatch, settings
):
    from studyplatform import celery_app

    assert not celery_app.conf.task_always_eager, "system tests dispatch to real workers"
    env_media = {"MEDIA_ROOT": settings.MEDIA_ROOT}
    for key, value in env_media.items():
        monkeypatch.setenv(key, value)
    classifier = classifier_zoo_ensure(name="efficientnet_lite0")
    first = WorkerProcess(name="doomed").start()
    job = precompute_job_create(
        classifier=classifier,
        image_set=eight_images,
        methods=["gradcam", "gradient"],
        metrics=["iic"],
        batch_size=1,
    )
    wait_for(job, lambda j: j.completed >= 2, 240, first)
    first.kill(signal.SIGKILL)
    job.refresh_from_db()
    assert not job.is_finished, "the job finished before the kill: make it longer"

    second = WorkerProcess(name="rescuer").start()
    try:
        wait_for(job, lambda j: j.is_finished, 300, second)
    finally:
        second.stop()
    assert job.state == PrecomputeJob.State.DONE, job.errors
    assert (job.completed, job.failed, job.total) == (16, 0, 16)
    per_key = (
        SaliencyMap.objects.values("image", "method", "target_class")
        .annotate(n=Count("id"))
        .values_list("n", flat=True)
    )
    assert list(per_key) and set(per_key) == {1}
    assert SaliencyMap.objects.count() == 16
    stored = {p.name for p in (shared_media / "maps" / "raw").iterdir()}
    assert stored == {m.raw.name.split("/")[-1] for m in SaliencyMap.objects.all()}
    assert not (shared_media / "maps" / "overlay").exists()  # drawing is not the GPU path's job
