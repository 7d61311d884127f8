"""Two hosts that share no disk: a real Celery worker and the web process share only the
database, the broker and an S3 bucket (moto_server). Each has a ``MEDIA_ROOT`` of its own,
empty, that must stay empty."""

from __future__ import annotations

import shutil
import signal
import time
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.test import Client

from explainers.core.render import DEFAULT
from explainers.models import Image, MapRender, PrecomputeJob, SaliencyMap
from explainers.services.classifiers import classifier_zoo_ensure
from explainers.services.image_sets import image_set_import
from explainers.services.precompute import precompute_job_create

from .conftest import WorkerProcess

pytestmark = [pytest.mark.system, pytest.mark.slow]


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def some_images(sample: Path, tmp_path: Path, n: int, owner=None):  # type: ignore[no-untyped-def]
    folder = tmp_path / f"images-{n}"
    folder.mkdir()
    lines = (sample / "labels.csv").read_text().splitlines()
    (folder / "labels.csv").write_text("\n".join(lines[: n + 1]) + "\n")
    for line in lines[1 : n + 1]:
        shutil.copy(sample / line.split(",")[0], folder / line.split(",")[0])
    return image_set_import(name=f"images-{n}", source=folder, owner=owner).image_set


def worker_environment(monkeypatch, s3_media, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """A worker host's environment: the bucket, and a MEDIA_ROOT of its own, empty."""
    worker_media = tmp_path / "worker-media"
    worker_media.mkdir()
    for key, value in {**s3_media.environ, "MEDIA_ROOT": str(worker_media)}.items():
        monkeypatch.setenv(key, value)
    return worker_media


def test_worker_stores_every_map_in_the_bucket_and_the_web_process_serves_them(
    services, transactional_db, s3_media, settings, imagenet_sample_dir, tmp_path, monkeypatch
):
    from studyplatform import celery_app

    assert not celery_app.conf.task_always_eager
    web_media = Path(settings.MEDIA_ROOT)
    worker_media = worker_environment(monkeypatch, s3_media, tmp_path)

    owner = get_user_model().objects.create_user("lab")
    image_set = some_images(imagenet_sample_dir, tmp_path, 3, owner)
    classifier = classifier_zoo_ensure(name="efficientnet_lite0")

    worker = WorkerProcess(name="s3-host").start()
    try:
        job = precompute_job_create(
            classifier=classifier,
            image_set=image_set,
            methods=["gradcam"],
            targets=["predicted"],
            presentations=[DEFAULT.to_dict()],
        )
        deadline = time.monotonic() + 300
        while True:
            job.refresh_from_db()
            renders = MapRender.objects.filter(saliency_map__image__image_set=image_set).count()
            if job.is_finished and renders == 3:
                break
            assert time.monotonic() < deadline, f"{job.state} {renders}\n{worker.log()}"
            time.sleep(0.5)
    finally:
        worker.stop()
    assert job.state == PrecomputeJob.State.DONE, job.errors

    maps = list(SaliencyMap.objects.filter(image__image_set=image_set))
    renders = list(MapRender.objects.filter(saliency_map__in=maps))
    assert len(maps) == 3 and len(renders) == 3
    expected = {m.raw.name for m in maps} | {i.file.name for i in Image.objects.all()}
    expected |= {r.image.name for r in renders} | {r.heatmap.name for r in renders}
    assert set(s3_media.list_keys()) == expected  # every map once, nothing else
    assert not files_under(worker_media) and not files_under(web_media)
    assert "s3-host" in worker.log() and "ERROR" not in worker.log()

    client = Client()
    client.force_login(owner)
    for saliency_map in maps:
        stored = client.get(f"/files/maps/{saliency_map.uid}/overlay")
        assert stored.status_code == 302, stored.content
        with urllib.request.urlopen(stored["Location"], timeout=10) as answer:
            assert answer.status == 200 and answer.read().startswith(b"\x89PNG")
        drawn = client.get(f"/files/maps/{saliency_map.uid}/overlay?preset=mask")  # from raw
        assert drawn.status_code == 200 and drawn.content.startswith(b"\x89PNG")
    assert not files_under(web_media)


def test_a_worker_killed_mid_job_then_another_gives_every_map_in_the_bucket_exactly_once(
    services, transactional_db, s3_media, settings, imagenet_sample_dir, tmp_path, monkeypatch
):
    web_media = Path(settings.MEDIA_ROOT)
    worker_media = worker_environment(monkeypatch, s3_media, tmp_path)
    image_set = some_images(imagenet_sample_dir, tmp_path, 4)
    classifier = classifier_zoo_ensure(name="efficientnet_lite0")
    first = WorkerProcess(name="s3-doomed").start()
    job = precompute_job_create(
        classifier=classifier, image_set=image_set, methods=["gradcam", "gradient"], batch_size=1
    )
    deadline = time.monotonic() + 240
    while job.completed < 2:
        assert time.monotonic() < deadline, first.log()
        time.sleep(0.3)
        job.refresh_from_db()
    first.kill(signal.SIGKILL)
    job.refresh_from_db()
    assert not job.is_finished, "the job finished before the kill: make it longer"
    second = WorkerProcess(name="s3-rescuer").start()
    try:
        deadline = time.monotonic() + 300
        while not job.is_finished:
            assert time.monotonic() < deadline, second.log()
            time.sleep(0.5)
            job.refresh_from_db()
    finally:
        second.stop()
    assert job.state == PrecomputeJob.State.DONE, job.errors
    assert (job.completed, job.failed, job.total) == (8, 0, 8)
    per_key = SaliencyMap.objects.values("image", "method", "target_class").annotate(n=Count("id"))
    assert {row["n"] for row in per_key} == {1} and SaliencyMap.objects.count() == 8
    raw = {key for key in s3_media.list_keys() if key.startswith("maps/raw/")}
    assert raw == {m.raw.name for m in SaliencyMap.objects.all()}  # no orphan of the killed run
    assert not files_under(worker_media) and not files_under(web_media)
