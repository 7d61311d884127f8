"""Precompute jobs: predictions, saliency maps and faithfulness scores, each computed once.

A job (classifier × image set × methods × targets × metrics) is checked and stored here, then
sent to the ``dispatch_job`` task; the path flows one way: command or API → this service → task
(:mod:`explainers.tasks`) → :mod:`explainers.services.units` (the job's units, their attempts and
counters) → :mod:`explainers.services.compute` → :mod:`explainers.services.result_storage`. A job
run again computes only what is missing: every row written has a unique key.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from explainers.models import (
    Classifier,
    ImageSet,
    PrecomputeJob,
)
from explainers.services.errors import JobError
from explainers.services.image_sets import labels_unmatched, true_classes
from explainers.services.parameters import parameters_for
from explainers.services.rendering import PresentationError, presentation_parse
from explainers.signals import precompute_job_finished_on_commit

logger = logging.getLogger(__name__)

TARGETS = ("predicted", "truth")

__all__ = [
    "TARGETS",
    "JobError",
    "methods_unsupported",
    "precompute_job_cancel",
    "precompute_job_create",
]


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


def precompute_job_cancel(*, job: PrecomputeJob) -> PrecomputeJob:
    with transaction.atomic():
        job = PrecomputeJob.objects.select_for_update().get(pk=job.pk)
        if not job.is_finished:
            job.state = PrecomputeJob.State.CANCELLED
            job.finished_at = timezone.now()
            job.save(update_fields=["state", "finished_at"])
            precompute_job_finished_on_commit(job_id=job.pk, state=job.state)
    return job
