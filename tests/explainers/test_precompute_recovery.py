"""Precompute jobs that survive faults: a unit that kills its worker, a dispatch message lost
with the broker, and the memory bound ``batch_size`` reaching the engine without changing a map's
hash."""

from __future__ import annotations

import pytest

from explainers.models import PrecomputeJob, PrecomputeUnit, SaliencyMap
from explainers.services.precompute import precompute_job_create
from explainers.services.units import precompute_job_dispatch, precompute_unit_run

from .test_precompute import classifier, image_set  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


class WorkerKilled(BaseException):  # stands for a SIGKILL: nothing catches it
    """What a unit's run looks like from the database when its worker is killed: it never ends."""


def test_a_unit_that_kills_its_worker_is_given_up_and_the_job_goes_on(
    image_set,  # noqa: F811
    classifier,  # noqa: F811
    monkeypatch,
):
    from explainers import core
    from explainers.services.units import MAX_UNIT_ATTEMPTS

    real_explain = core.explain

    def deadly(clf, x, method, **kwargs):
        if method == "gradient":
            raise WorkerKilled
        return real_explain(clf, x, method, **kwargs)

    monkeypatch.setattr(core, "explain", deadly)
    job = precompute_job_create(
        classifier=classifier, image_set=image_set, methods=["gradient", "gradcam"], batch_size=3
    )
    precompute_job_dispatch(job_id=job.pk)
    deadly_unit = PrecomputeUnit.objects.get(job=job, method="gradient")

    for attempt in range(1, MAX_UNIT_ATTEMPTS + 1):  # redelivered on every worker start
        with pytest.raises(WorkerKilled):
            precompute_unit_run(unit_id=deadly_unit.pk)
        deadly_unit.refresh_from_db()
        # Counted at the start, in its own transaction: the death does not undo it.
        assert (deadly_unit.state, deadly_unit.attempts) == ("queued", attempt)

    outcome = precompute_unit_run(unit_id=deadly_unit.pk)  # the next delivery gives up
    assert outcome.skipped
    deadly_unit.refresh_from_db()
    assert deadly_unit.state == PrecomputeUnit.State.FAILED
    assert deadly_unit.attempts == MAX_UNIT_ATTEMPTS
    job.refresh_from_db()
    assert (job.failed, job.completed) == (3, 0)
    assert f"gave up after {MAX_UNIT_ATTEMPTS} attempts" in job.errors[0]["error"]
    assert job.errors[0]["method"] == "gradient"

    other = PrecomputeUnit.objects.get(job=job, method="gradcam")
    assert not precompute_unit_run(unit_id=other.pk).skipped
    job.refresh_from_db()
    assert job.state == PrecomputeJob.State.FAILED and (job.completed, job.failed) == (3, 3)
    assert SaliencyMap.objects.filter(method="gradcam").count() == 3
    assert precompute_unit_run(unit_id=deadly_unit.pk).skipped  # stays given up


def test_a_unit_that_finishes_counts_one_attempt(image_set, classifier):  # noqa: F811
    job = precompute_job_create(
        classifier=classifier, image_set=image_set, methods=["gradcam"], batch_size=3
    )
    (unit_id,) = precompute_job_dispatch(job_id=job.pk)
    precompute_unit_run(unit_id=unit_id)
    precompute_unit_run(unit_id=unit_id)  # a duplicate delivery: skipped, not counted
    unit = PrecomputeUnit.objects.get(pk=unit_id)
    assert (unit.state, unit.attempts) == (PrecomputeUnit.State.DONE, 1)


def test_a_job_whose_dispatch_was_lost_is_sent_when_a_worker_starts(
    image_set,  # noqa: F811
    classifier,  # noqa: F811
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    from kombu.exceptions import OperationalError

    from explainers.tasks import jobs

    real_delay = jobs.dispatch_job.delay

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(jobs.dispatch_job, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        job = precompute_job_create(
            classifier=classifier, image_set=image_set, methods=["gradcam"], batch_size=2
        )
    job.refresh_from_db()  # stored, answered, but never sent
    assert job.state == PrecomputeJob.State.PENDING and not job.units.exists()

    monkeypatch.setattr(jobs.dispatch_job, "delay", real_delay)  # the broker is back
    jobs.resume_unfinished_jobs()  # a worker starts (tasks run in-process here)
    job.refresh_from_db()
    assert job.state == PrecomputeJob.State.DONE, job.errors
    assert (job.completed, job.total) == (3, 3)
    assert SaliencyMap.objects.count() == 3


def test_batch_size_reaches_the_engine_and_does_not_change_the_map_hash(
    image_set,  # noqa: F811
    classifier,  # noqa: F811
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    from explainers import core

    real_explain = core.explain
    calls: list[dict[str, object]] = []

    def spy(clf, x, method, **kwargs):
        calls.append({"images": x.shape[0], **kwargs})
        return real_explain(clf, x, method, **kwargs)

    monkeypatch.setattr(core, "explain", spy)

    def run(options):
        with django_capture_on_commit_callbacks(execute=True):
            job = precompute_job_create(
                classifier=classifier,
                image_set=image_set,
                methods=["gradient"],
                options=options,
                batch_size=3,
            )
        job.refresh_from_db()
        assert job.state == PrecomputeJob.State.DONE, job.errors
        return job

    run({"gradient": {"batch_size": 1}})
    assert len(calls) == 1 and calls[0]["batch_size"] == 1
    hashes = set(SaliencyMap.objects.values_list("parameters_hash", flat=True))
    assert len(hashes) == 1
    assert "batch_size" not in SaliencyMap.objects.first().parameters

    run({})  # the same maps with the default batch: already there, nothing computed
    assert len(calls) == 1
    run({"gradient": {"batch_size": 2}})
    assert len(calls) == 1
    assert set(SaliencyMap.objects.values_list("parameters_hash", flat=True)) == hashes
