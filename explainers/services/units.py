"""Running a precompute job's units: what the Celery tasks call (command → service → task → here
→ compute → storage).

A job is split into units (one method on a batch of images) by :func:`precompute_job_dispatch`;
each unit is one task on the ``gpu`` queue. Progress counts units' images exactly once: a unit
moves from queued to done (or failed) under a row lock, together with the job's counters.

Every start of a unit counts an attempt in its own committed transaction, before any work. A unit
that kills its worker (SIGKILL, out of memory, hard time limit) never reaches the end of its run,
and with ``acks_late`` its message comes back on every worker start; once it has started
:data:`MAX_UNIT_ATTEMPTS` times, the next delivery marks it failed with an error on its job
instead of running it, and the rest of the job goes on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from explainers.models import Image, PrecomputeJob, PrecomputeUnit, SaliencyMap
from explainers.services.compute import compute_maps_and_scores, ensure_predictions
from explainers.services.parameters import canonical_hash, parameters_for
from explainers.services.render_requests import map_renders_request
from explainers.signals import precompute_job_finished_on_commit

TOP_K = 5

#: Starts of one unit before it is given up. Each start counts: one that succeeds, one that raises
#: (the gpu task retries an exception up to 3 times, i.e. 4 starts) and one whose worker died.
#: 5 leaves room for the retries plus one redelivery after an unrelated worker restart.
MAX_UNIT_ATTEMPTS = 5


def precompute_job_dispatch(*, job_id: int) -> list[int]:
    """Create the job's units once, then return the ids of those still queued (to be sent)."""
    with transaction.atomic():
        job = PrecomputeJob.objects.select_for_update().get(pk=job_id)
        if job.is_finished:
            return []
        if not job.units.exists():
            image_ids = list(job.image_set.images.order_by("id").values_list("id", flat=True))
            PrecomputeUnit.objects.bulk_create(
                PrecomputeUnit(job=job, method=method, image_ids=image_ids[i : i + job.batch_size])
                # batch-major: a batch's methods run one after another and share decoded images
                for i in range(0, len(image_ids), job.batch_size)
                for method in job.methods
            )
            job.total = len(image_ids) * len(job.methods)
        if job.state == PrecomputeJob.State.PENDING:
            job.state = PrecomputeJob.State.RUNNING
            job.started_at = timezone.now()
        job.heartbeat_at = timezone.now()
        job.save()
        queued = list(
            job.units.filter(state=PrecomputeUnit.State.QUEUED)
            .order_by("id")
            .values_list("id", flat=True)
        )
        _finish_if_complete(job)
    return queued


@dataclass(frozen=True)
class UnitOutcome:
    maps_created: int
    scores_created: int
    skipped: bool


def _unit_start(unit_id: int) -> bool:
    """Count one attempt of a queued unit, committed before any work; False: do not run it.

    Past :data:`MAX_UNIT_ATTEMPTS` starts the unit is failed here (its earlier runs never ended:
    their worker died) and False is returned.
    """
    with transaction.atomic():
        unit = PrecomputeUnit.objects.select_for_update().select_related("job").get(pk=unit_id)
        if unit.state != PrecomputeUnit.State.QUEUED or unit.job.state in {
            PrecomputeJob.State.CANCELLED,
            PrecomputeJob.State.DONE,
            PrecomputeJob.State.FAILED,
        }:
            return False
        attempts = unit.attempts
        if attempts < MAX_UNIT_ATTEMPTS:
            unit.attempts = attempts + 1
            unit.save(update_fields=["attempts", "updated_at"])
            return True
    _unit_finish(
        unit_id,
        PrecomputeUnit.State.FAILED,
        error=(
            f"gave up after {attempts} attempts: its last run never finished (the worker stopped "
            "during it: killed, out of memory or over the hard time limit)"
        ),
    )
    return False


def precompute_unit_run(*, unit_id: int) -> UnitOutcome:
    """Compute what is missing for one unit; safe to run any number of times.

    Must not run inside a transaction: the attempt it counts first has to be committed even if
    the worker dies during the computation.
    """
    if not _unit_start(unit_id):
        return UnitOutcome(0, 0, skipped=True)
    unit = PrecomputeUnit.objects.select_related("job__classifier").get(pk=unit_id)
    job = unit.job
    started = time.perf_counter()
    images = list(Image.objects.filter(pk__in=unit.image_ids).order_by("id"))
    predictions = ensure_predictions(job.classifier, images, top_k=TOP_K)
    created_maps, created_scores = compute_maps_and_scores(
        classifier=job.classifier,
        images=images,
        predictions=predictions,
        method=unit.method,
        options=job.options.get(unit.method, {}),
        targets=job.targets,
        metrics=job.metrics,
    )
    _unit_finish(unit_id, PrecomputeUnit.State.DONE, seconds=time.perf_counter() - started)
    if job.presentations:
        _request_renders(job, unit.method, images)
    return UnitOutcome(created_maps, created_scores, skipped=False)


def _request_renders(job: PrecomputeJob, method: str, images: Sequence[Image]) -> None:
    """Queue the CPU renders of the unit's maps (a message per chunk; nothing is drawn here)."""
    parameters_hash = canonical_hash(parameters_for(method, job.options.get(method, {})))
    map_ids = list(
        SaliencyMap.objects.filter(
            classifier_id=job.classifier_id,
            method=method,
            parameters_hash=parameters_hash,
            image__in=images,
        ).values_list("id", flat=True)
    )
    map_renders_request(map_ids=map_ids, presentations=job.presentations)


def precompute_unit_fail(*, unit_id: int, error: str) -> None:
    _unit_finish(unit_id, PrecomputeUnit.State.FAILED, error=error)


def _unit_finish(unit_id: int, state: str, *, seconds: float = 0.0, error: str = "") -> None:
    with transaction.atomic():
        unit = PrecomputeUnit.objects.select_for_update().get(pk=unit_id)
        if unit.state != PrecomputeUnit.State.QUEUED:
            return  # another delivery of the same task finished it first
        unit.state = state
        unit.error = error[:2000]
        unit.save(update_fields=["state", "error", "updated_at"])
        # the job row is locked until commit: its counters can be added to in Python
        job = PrecomputeJob.objects.select_for_update().get(pk=unit.job_id)
        count = len(unit.image_ids)
        if state == PrecomputeUnit.State.DONE:
            job.completed += count
            changed = ["completed"]
        else:
            job.failed += count
            job.errors = [
                *job.errors,
                {"method": unit.method, "images": unit.image_ids, "error": error[:500]},
            ][-100:]
            changed = ["failed", "errors"]
        job.compute_seconds += seconds
        job.heartbeat_at = timezone.now()
        job.save(update_fields=[*changed, "compute_seconds", "heartbeat_at"])
        _finish_if_complete(job)


def _finish_if_complete(job: PrecomputeJob) -> None:
    if job.is_finished or job.completed + job.failed < job.total:
        return
    job.state = PrecomputeJob.State.FAILED if job.failed else PrecomputeJob.State.DONE
    job.finished_at = timezone.now()
    job.save(update_fields=["state", "finished_at"])
    precompute_job_finished_on_commit(job_id=job.pk, state=job.state)
