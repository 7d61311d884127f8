"""The demo serves before its maps exist: a real worker over Redis and PostgreSQL computes them,
and its job-finished signal opens the demo's drafts, bots included, in the worker (issue 23).

Two photographs and two fast methods keep it to a few seconds of computing.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from explainers import demo as explainers_demo
from explainers.models import PrecomputeJob
from explainers.services.classifiers import classifier_zoo_ensure
from explainers.services.image_sets import image_set_import
from studies.services.demo import BOTS, demo_studies, demo_studies_draft

from .conftest import WorkerProcess, _queue_exists

pytestmark = [pytest.mark.system, pytest.mark.slow]


@pytest.fixture
def worker(services, transactional_db, settings, tmp_path: Path, monkeypatch):
    """A worker for both queues sharing this test's media folder; the queues start empty."""
    from studyplatform import celery_app

    settings.MEDIA_ROOT = str(tmp_path / "media")
    monkeypatch.setenv("MEDIA_ROOT", settings.MEDIA_ROOT)
    celery_app.conf.task_always_eager = False
    with celery_app.connection_for_write() as conn:
        for queue in ("default", "gpu"):
            if _queue_exists(conn, queue):
                conn.default_channel.queue_purge(queue)
    process = WorkerProcess(name="demo").start()
    try:
        yield process
    finally:
        process.stop()


def test_a_demo_draft_goes_live_when_the_worker_finishes_its_maps(worker, tmp_path, monkeypatch):
    photos = {p.file_name: p for p in explainers_demo.PHOTOS}
    monkeypatch.setattr(explainers_demo, "METHODS", ("gradcam", "gradient"))
    monkeypatch.setattr(explainers_demo, "METRICS", ())
    owner = get_user_model().objects.create_user("researcher", is_staff=True, is_superuser=True)
    classifier = classifier_zoo_ensure(name=explainers_demo.CLASSIFIER)
    folder = tmp_path / "photos"
    folder.mkdir()
    monkeypatch.setattr(explainers_demo, "PHOTOS", (photos["coffee.png"], photos["chelsea.png"]))
    assert explainers_demo.photos_write(folder, classifier.class_names) == 2
    image_set = image_set_import(
        name=explainers_demo.PHOTOS_SET,
        source=folder,
        owner=owner,
        class_names=classifier.class_names,
    ).image_set
    # The job's dispatch is sent when this block commits: the drafts exist before the worker
    # can finish it, as they do when `make demo` serves and the worker computes.
    with transaction.atomic():
        job = explainers_demo.demo_job_ensure(
            classifier=classifier, image_set=image_set, owner=owner
        )
        demo_studies_draft(owner=owner)
    likert = demo_studies().get(protocol="likert")
    assert likert.state == "draft"

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not _opening_task_succeeded(worker):
        time.sleep(0.5)
    job.refresh_from_db()
    assert job.state == PrecomputeJob.State.DONE, (job.errors, worker.log())
    assert _opening_task_succeeded(worker), worker.log()
    likert.refresh_from_db()
    assert likert.state == "live" and likert.launched_at is not None, worker.log()
    assert demo_studies().get(protocol="preference").state == "live"
    for study in demo_studies().filter(state="live"):
        assert study.participants.count() == BOTS, study.protocol
        assert study.participants.filter(state="completed").exists(), study.protocol


def _opening_task_succeeded(worker: WorkerProcess) -> bool:
    lines = worker.log_path.read_text(errors="replace").splitlines()
    return any(
        "Task studies.tasks.open_demo_studies[" in line and "succeeded" in line for line in lines
    )


def test_the_demo_command_returns_before_the_maps_and_the_worker_opens_its_studies(
    worker, tmp_path, monkeypatch, settings
):
    """``manage.py demo`` no longer waits for the maps: with ``--no-serve`` (where it would
    start the server) it returns with the jobs queued and the studies as drafts, and a running
    worker computes the maps and opens the studies."""
    import io

    from django.core.management import call_command

    photos = {p.file_name: p for p in explainers_demo.PHOTOS}
    monkeypatch.setattr(explainers_demo, "PHOTOS", (photos["coffee.png"], photos["chelsea.png"]))
    monkeypatch.setattr(explainers_demo, "METHODS", ("gradcam", "gradient"))
    monkeypatch.setattr(explainers_demo, "METRICS", ())
    settings.BASE_DIR = tmp_path  # var/demo-login.txt goes here, not into the project
    settings.SHARED_DATA_DIR = str(tmp_path / "no-shared-data")
    out = io.StringIO()
    previous = signal.getsignal(signal.SIGTERM)
    try:
        call_command("demo", "--no-serve", "--port", "8124", stdout=out)
    finally:
        signal.signal(signal.SIGTERM, previous)
    printed = out.getvalue()

    assert "Saliency maps are being computed in the background (0 of 4 done)" in printed, printed
    assert "[" + "#" * 30 + "]" not in printed  # no progress bar: nothing was waited for
    assert "no worker started" in printed  # the worker that computes is the running one
    likert = demo_studies().get(protocol="likert")
    assert "waiting for its maps; it opens by itself" in printed
    assert f"http://127.0.0.1:8124/studies/{likert.uid}/" in printed

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not _opening_task_succeeded(worker):
        time.sleep(0.5)
    likert.refresh_from_db()
    assert likert.state == "live", worker.log()
    assert likert.participants.count() == BOTS
