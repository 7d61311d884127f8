"""Rendering leaves the GPU path: a real ``gpu`` worker stores raw maps and renders nothing; a
real ``default`` (CPU) worker then draws every map under the job's presentations, once."""

from __future__ import annotations

import time

import pytest

from explainers.core.render import DEFAULT, PRESETS
from explainers.models import MapRender, PrecomputeJob, SaliencyMap
from explainers.services.classifiers import classifier_zoo_ensure
from explainers.services.precompute import precompute_job_create
from explainers.services.units import precompute_job_dispatch

from .conftest import WorkerProcess
from .test_precompute_worker import eight_images, shared_media, wait_for  # noqa: F401

pytestmark = [pytest.mark.system, pytest.mark.slow]


def test_gpu_queue_renders_nothing_and_the_cpu_queue_renders_the_stimuli(
    eight_images,  # noqa: F811
    shared_media,  # noqa: F811
    monkeypatch,
    settings,
    django_capture_on_commit_callbacks,
):
    from explainers.tasks.gpu import compute_unit
    from studyplatform import celery_app

    assert not celery_app.conf.task_always_eager
    monkeypatch.setenv("MEDIA_ROOT", settings.MEDIA_ROOT)
    classifier = classifier_zoo_ensure(name="efficientnet_lite0")
    presentations = [DEFAULT.to_dict(), PRESETS["legacy"].to_dict()]
    gpu = WorkerProcess(queues="gpu", name="gpu-only").start()
    try:
        with django_capture_on_commit_callbacks(execute=False):  # no dispatch message: sent here
            job = precompute_job_create(
                classifier=classifier,
                image_set=eight_images,
                methods=["gradcam", "gradient"],
                batch_size=4,
                presentations=presentations,
            )
        for unit_id in precompute_job_dispatch(job_id=job.pk):
            compute_unit.delay(unit_id)
        wait_for(job, lambda j: j.is_finished, 300, gpu)
    finally:
        gpu.stop()
    assert job.state == PrecomputeJob.State.DONE, job.errors
    n_maps = SaliencyMap.objects.count()
    assert n_maps == 16
    assert not MapRender.objects.exists(), "the GPU worker drew maps"
    assert not SaliencyMap.objects.exclude(overlay="").exists()
    assert not (shared_media / "maps" / "render").exists()
    assert "Task explainers.tasks.render.render_maps[" not in gpu.log_path.read_text()

    cpu = WorkerProcess(queues="default", name="cpu-only").start()
    try:
        deadline = time.monotonic() + 240
        while MapRender.objects.count() < 2 * n_maps and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        cpu.stop()
    assert MapRender.objects.count() == 2 * n_maps, cpu.log()
    for presentation in (DEFAULT, PRESETS["legacy"]):
        renders = MapRender.objects.filter(presentation_key=presentation.key)
        assert renders.count() == n_maps  # each map once under each presentation
        for render in renders:
            assert (shared_media / render.image.name).read_bytes().startswith(b"\x89PNG")
    log = cpu.log_path.read_text()
    assert "Task explainers.tasks.render.render_maps[" in log
    assert "Task explainers.tasks.gpu.compute_unit[" not in log
