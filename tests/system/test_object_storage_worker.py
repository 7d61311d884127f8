"""Two hosts that share no disk: a real Celery worker and the web process share only the
database, the broker and an S3 bucket (moto_server). Each has a ``MEDIA_ROOT`` of its own,
empty, that must stay empty."""

from __future__ import annotations

import shutil
import time
import urllib.request
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
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


def test_worker_stores_every_map_in_the_bucket_and_the_web_process_serves_them(
    services, transactional_db, s3_media, settings, imagenet_sample_dir, tmp_path, monkeypatch
):
    from studyplatform import celery_app

    assert not celery_app.conf.task_always_eager
    web_media = Path(settings.MEDIA_ROOT)
    worker_media = tmp_path / "worker-media"
    worker_media.mkdir()
    for key, value in {**s3_media.environ, "MEDIA_ROOT": str(worker_media)}.items():
        monkeypatch.setenv(key, value)

    folder = tmp_path / "three"
    folder.mkdir()
    lines = (imagenet_sample_dir / "labels.csv").read_text().splitlines()
    (folder / "labels.csv").write_text("\n".join(lines[:4]) + "\n")
    for line in lines[1:4]:
        shutil.copy(imagenet_sample_dir / line.split(",")[0], folder / line.split(",")[0])
    owner = get_user_model().objects.create_user("lab")
    image_set = image_set_import(name="three", source=folder, owner=owner).image_set
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
