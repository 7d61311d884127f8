"""Precompute jobs: predictions, saliency maps and faithfulness scores, each computed once.

A job (classifier × image set × methods × targets × metrics) is split into units (one method on a
batch of images). Each unit is one Celery task on the ``gpu`` queue. Every row it writes has a
unique constraint, so a retried, duplicated or redelivered task stores nothing twice, and a job
run again computes only what is missing. Progress counts units' images exactly once: a unit moves
from queued to done (or failed) under a row lock, together with the job's counters.

Every start of a unit counts an attempt in its own committed transaction, before any work. A unit
that kills its worker (SIGKILL, out of memory, hard time limit) never reaches the end of its run,
and with ``acks_late`` its message comes back on every worker start; once it has started
:data:`MAX_UNIT_ATTEMPTS` times, the next delivery marks it failed with an error on its job
instead of running it, and the rest of the job goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from explainers.models import (
    Classifier,
    FaithfulnessScore,
    Image,
    ImageSet,
    PrecomputeJob,
    PrecomputeUnit,
    Prediction,
    SaliencyMap,
)
from explainers.services.image_sets import labels_unmatched, true_classes
from explainers.services.parameters import canonical_hash, parameters_for
from explainers.services.rendering import PresentationError, presentation_parse
from explainers.signals import precompute_job_finished_on_commit

logger = logging.getLogger(__name__)

TARGETS = ("predicted", "truth")
TOP_K = 5
#: Starts of one unit before it is given up. Each start counts: one that succeeds, one that raises
#: (the gpu task retries an exception up to 3 times, i.e. 4 starts) and one whose worker died.
#: 5 leaves room for the retries plus one redelivery after an unrelated worker restart.
MAX_UNIT_ATTEMPTS = 5


class JobError(ValueError):
    """A precompute request that cannot run; the message names the problem."""


def _registries() -> tuple[dict[str, object], dict[str, object]]:
    from explainers.core import METHODS, METRICS

    return dict(METHODS), dict(METRICS)


def methods_unsupported(classifier: Classifier, methods: Sequence[str]) -> dict[str, str]:
    """The methods among ``methods`` that ``classifier`` cannot run, with why (known without
    loading the model: an uploaded TorchScript archive takes no Python hooks)."""
    from explainers.core import METHODS
    from explainers.core.classifier import SCRIPTED_HOOK_LIMITATION, method_limitation

    if classifier.source != Classifier.Source.TORCHSCRIPT:
        return {}
    return {
        m: reason
        for m in methods
        if m in METHODS
        and (reason := method_limitation(METHODS[m].family, m, SCRIPTED_HOOK_LIMITATION))
    }


def precompute_job_create(
    *,
    classifier: Classifier,
    image_set: ImageSet,
    methods: Sequence[str],
    metrics: Sequence[str] = (),
    targets: Sequence[str] = ("predicted",),
    options: dict[str, dict[str, object]] | None = None,
    batch_size: int = 8,
    owner: Any = None,
    presentations: Sequence[dict[str, object]] = (),
) -> PrecomputeJob:
    """Validate the request, create the job and queue its dispatch when the transaction commits.

    ``presentations``: settings of the conventions each computed map is to be rendered in, on the
    CPU queue, as its unit finishes (a study's presentations); the job itself renders nothing.
    """
    known_methods, known_metrics = _registries()
    methods = list(dict.fromkeys(methods))
    metrics = list(dict.fromkeys(metrics))
    targets = list(dict.fromkeys(targets))
    options = options or {}
    if not methods:
        raise JobError("methods: choose at least one saliency method")
    if unknown := [m for m in methods if m not in known_methods]:
        raise JobError(f"methods: unknown {', '.join(unknown)} (known: {', '.join(known_methods)})")
    if unknown := [m for m in metrics if m not in known_metrics]:
        raise JobError(f"metrics: unknown {', '.join(unknown)} (known: {', '.join(known_metrics)})")
    if not targets or (unknown := [t for t in targets if t not in TARGETS]):
        raise JobError(f"targets: choose from {', '.join(TARGETS)}")
    if unknown := [m for m in options if m not in methods]:
        raise JobError(f"options: given for methods not in the job: {', '.join(unknown)}")
    if not 1 <= batch_size <= 256:
        raise JobError("batch_size: must be between 1 and 256")
    for method in methods:
        parameters_for(method, options.get(method, {}))  # raises JobError on a bad option
    if unsupported := methods_unsupported(classifier, methods):
        raise JobError(
            "methods: "
            + "; ".join(f"{m} cannot run on {classifier.name}: {r}" for m, r in unsupported.items())
        )
    rendered = []
    for item in presentations:
        try:
            rendered.append(presentation_parse(item).to_dict())
        except PresentationError as error:
            raise JobError(str(error)) from None
    if not image_set.images.exists():
        raise JobError(f"image set {image_set.name!r} has no images")
    warnings = _truth_warnings(classifier, image_set) if "truth" in targets else []
    from explainers.tasks.jobs import dispatch_job

    with transaction.atomic():
        job = PrecomputeJob.objects.create(
            owner=owner,
            classifier=classifier,
            image_set=image_set,
            methods=methods,
            metrics=metrics,
            targets=targets,
            options=options,
            presentations=rendered,
            batch_size=batch_size,
            warnings=warnings,
            total=image_set.images.count() * len(methods),
        )
        # robust: a broker that is down must not turn a stored job into an error answer; the job
        # stays pending and the next worker start sends it (resume_unfinished_jobs).
        transaction.on_commit(lambda: dispatch_job.delay(job.pk), robust=True)
    return job


#: Files listed by name in a message about unmatched labels (the rest are counted).
LISTED_FILES = 20


def _listed(pairs: Sequence[tuple[str, str]]) -> str:
    shown = ", ".join(f"{file} ({label!r})" for file, label in pairs[:LISTED_FILES])
    more = len(pairs) - LISTED_FILES
    return shown + (f" and {more} more" if more > 0 else "")


def _truth_warnings(classifier: Classifier, image_set: ImageSet) -> list[str]:
    """Check the ground truth of ``image_set`` for ``classifier``: raise JobError if no image
    has a true class for it; otherwise the warnings about images whose label names no class.

    Label names are resolved against the classifier's ``class_names`` here and when the maps
    are computed (:func:`explainers.services.image_sets.true_classes`), not stored on the images.
    """
    images = list(image_set.images.only("id", "label", "label_index"))
    resolved = sum(index is not None for index in true_classes(classifier, images).values())
    missing = labels_unmatched(classifier, image_set)
    names = list(classifier.class_names or [])
    classes = ", ".join(map(str, names[:LISTED_FILES])) + (
        " …" if len(names) > LISTED_FILES else ""
    )
    if not resolved:
        if not missing:
            raise JobError(f"targets: image set {image_set.name!r} has no ground-truth labels")
        raise JobError(
            f"targets: no ground-truth label of image set {image_set.name!r} names a class of "
            f"{classifier.name} (its classes: {classes}); labels that match none, by file: "
            + _listed(missing)
        )
    if not missing:
        return []
    return [
        f"truth: {len(missing)} image(s) of {image_set.name!r} have a label that names no class "
        f"of {classifier.name} and get no true-class map (its classes: {classes}): "
        + _listed(missing)
    ]


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


def precompute_job_cancel(*, job: PrecomputeJob) -> PrecomputeJob:
    with transaction.atomic():
        job = PrecomputeJob.objects.select_for_update().get(pk=job.pk)
        if not job.is_finished:
            job.state = PrecomputeJob.State.CANCELLED
            job.finished_at = timezone.now()
            job.save(update_fields=["state", "finished_at"])
            precompute_job_finished_on_commit(job_id=job.pk, state=job.state)
    return job


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
    from explainers.services.compute import compute_maps_and_scores, ensure_predictions

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
    from explainers.services.rendering import map_renders_request

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


def save_map_rows(rows: list[SaliencyMap]) -> int:
    """Insert map rows in one statement; a row that another delivery of the same work inserted
    first is skipped (unique key). Returns how many rows this call inserted.

    File names derive from the map's unique key, so the loser's files are the winner's files
    (same names, same content): nothing is left behind and nothing is deleted.
    """
    if not rows:
        return 0
    try:
        with transaction.atomic():  # the usual case: one INSERT of every row
            SaliencyMap.objects.bulk_create(rows)
        return len(rows)
    except IntegrityError:
        pass
    same = SaliencyMap.objects.filter(
        classifier_id=rows[0].classifier_id,
        method=rows[0].method,
        parameters_hash=rows[0].parameters_hash,
        image_id__in={r.image_id for r in rows},
    )
    with transaction.atomic():
        before = same.count()
        SaliencyMap.objects.bulk_create(rows, ignore_conflicts=True)
        return same.count() - before


def save_scores(rows: list[FaithfulnessScore]) -> int:
    before = FaithfulnessScore.objects.filter(
        saliency_map__in=[r.saliency_map_id for r in rows]
    ).count()
    FaithfulnessScore.objects.bulk_create(rows, ignore_conflicts=True)
    after = FaithfulnessScore.objects.filter(
        saliency_map__in=[r.saliency_map_id for r in rows]
    ).count()
    return after - before


def predictions_save(rows: list[Prediction]) -> None:
    Prediction.objects.bulk_create(rows, ignore_conflicts=True)
