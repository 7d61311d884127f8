"""A task names its database; a worker on another database refuses it (issue 23).

Two ``DATABASE_URL`` values on one broker (the embedded file-system broker, or one Redis
database) used to let a worker look another database's job id up in its own: it found an
unrelated row, or none, and reported the task done with 0 units while the sender waited forever.
"""

from __future__ import annotations

import io
import shutil
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from explainers.models import ImageSet, PrecomputeJob
from explainers.services.classifiers import classifier_zoo_ensure
from explainers.services.image_sets import image_set_import
from studyplatform.dbidentity import database_identity

pytestmark = [pytest.mark.system]

OTHER = {"db_identity": "0123456789abcdef", "db_label": "postgresql elsewhere on otherhost:5432"}


def _wait_for(condition, timeout: float, what: str, log) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} after {timeout}s\n{log()}")


def test_a_task_sent_for_another_database_is_refused_and_logged(celery_worker_process):
    from explainers.tasks.jobs import dispatch_job

    worker = celery_worker_process
    classifier = classifier_zoo_ensure(name="efficientnet_lite0")
    # No images: dispatched here, the job would end "done" with 0 units, the symptom of the bug.
    image_set = ImageSet.objects.create(name="empty")
    job = PrecomputeJob.objects.create(
        classifier=classifier, image_set=image_set, methods=["gradcam"], targets=["predicted"]
    )
    assert OTHER["db_identity"] != database_identity()

    dispatch_job.apply_async(args=[job.pk], headers=OTHER)

    refused = "refused task explainers.tasks.jobs.dispatch_job: it was sent for another database"
    _wait_for(lambda: refused in worker.log(), 60, "no refusal in the worker's log", worker.log)
    log = worker.log()
    assert "(postgresql elsewhere on otherhost:5432, identity 0123456789abcdef)" in log
    assert f"identity {database_identity()})" in log
    job.refresh_from_db()
    assert job.state == PrecomputeJob.State.PENDING  # not looked up, not "done with 0 units"
    assert not job.units.exists()

    # The same task for this database runs: the refusal is about the database, not the task.
    dispatch_job.delay(job.pk)
    _wait_for(
        lambda: PrecomputeJob.objects.get(pk=job.pk).state == PrecomputeJob.State.DONE,
        60,
        "the job sent for this database did not run",
        worker.log,
    )


def test_precompute_wait_on_a_job_no_worker_picks_up_ends_with_a_message(
    services, transactional_db, settings, tmp_path, imagenet_sample_dir
):
    from studyplatform import celery_app

    settings.MEDIA_ROOT = str(tmp_path / "media")
    celery_app.conf.task_always_eager = False  # the dispatch really goes to Redis, unread
    folder = tmp_path / "two"
    folder.mkdir()
    lines = (imagenet_sample_dir / "labels.csv").read_text().splitlines()[:3]
    (folder / "labels.csv").write_text("\n".join(lines) + "\n")
    for line in lines[1:]:
        shutil.copy(imagenet_sample_dir / line.split(",")[0], folder / line.split(",")[0])
    image_set_import(name="two", source=folder)
    classifier_zoo_ensure(name="efficientnet_lite0")

    started = time.monotonic()
    with pytest.raises(CommandError) as error:
        call_command(
            "precompute",
            "--image-set=two",
            "--methods=gradcam",
            "--wait",
            "--pickup-timeout=2",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    job = PrecomputeJob.objects.get()
    assert time.monotonic() - started < 30
    assert f"job {job.uid} is still pending after 2s: no worker is working on it" in str(
        error.value
    )
    assert job.state == PrecomputeJob.State.PENDING
    with celery_app.connection_for_write() as conn:  # leave no message for a later test's worker
        conn.default_channel.queue_purge("default")
