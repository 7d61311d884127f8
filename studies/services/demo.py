"""The demo's studies: drafted at once, opened by themselves when their maps are ready.

``make demo`` serves as soon as its rows exist; the maps are computed by the worker afterwards.
:func:`demo_studies_draft` creates one draft per installed protocol on the image sets the demo's
precompute jobs fill (or that already have maps), and :func:`demo_studies_open` launches each
draft whose maps and predictions are all there, rendering its stimuli first and letting a few
bots take part. It runs when a precompute job finishes (``studies.tasks.open_demo_studies``, sent
by :mod:`studies.receivers`) and at the end of every demo set-up. Both are idempotent: the
studies are found by owner and title, a study is launched under a row lock, and only the call
that launched it runs its bots, so a task delivered twice opens and seeds each study once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count

from explainers.demo import VIEWS_SET
from explainers.models import Classifier, ImageSet, PrecomputeJob, SaliencyMap
from studies.configschema import ConfigError
from studies.errors import StudyError
from studies.models import Study
from studies.protocols import protocols
from studies.services.studies import (
    design_validate,
    study_create,
    study_renders_make,
    study_transition,
)
from studies.stimuli import check_study_stimuli

logger = logging.getLogger(__name__)

DEMO_OWNER = "researcher"
DEMO_STUDIES: list[dict[str, Any]] = [
    {
        "title": "Demo: how well do maps highlight the object? (Likert)",
        "protocol": "likert",
        "configuration": {"variant": "single_map"},
        "flow": {
            "attention_checks": 1,
            "hypotheses": "H1: the methods' maps are rated differently; Grad-CAM's highest.",
            "power_analysis": {"design": "paired", "effect": 0.5, "power": 0.8},
        },
        "images": "all",
    },
    {
        "title": "Demo: which explanation is better? (preference)",
        "protocol": "preference",
        "configuration": {},
        "flow": {
            "attention_checks": 1,
            "hypotheses": "H1: one method's map is preferred over the other's more than half "
            "the time.",
            "power_analysis": {"design": "paired", "effect": 0.5, "power": 0.8},
        },
        "images": "all",
    },
    {
        "title": "Demo: can people predict the model? (model-output simulation)",
        "protocol": "simulation",
        # A class counts as recognised among the model's 5 most likely ones: with one photograph
        # per class, top-1 gives too few false positives for a task.
        "configuration": {
            "tasks": 4,
            "recognised_if": "top_k",
            "top_k": 5,
            "negatives": "any_class",
        },
        "flow": {
            "attention_checks": 1,
            "hypotheses": "H1: participants shown the maps predict the model's output more "
            "accurately than those who are not.",
            "power_analysis": {"design": "two_groups", "effect": 0.5, "power": 0.8},
        },
        "images": "all",
        "methods": 1,
        "sample": None,
        # the photograph views, where the model both recognises and misses some classes
        "image_set": VIEWS_SET,
    },
    {
        "title": "Demo: do maps help find the true class? (ground-truth prediction)",
        "protocol": "gt_prediction",
        "configuration": {},
        "flow": {
            "attention_checks": 1,
            "hypotheses": "H1: participants shown the map find the true class more often.",
            "power_analysis": {"design": "two_proportions", "p1": 0.6, "p2": 0.75, "power": 0.8},
        },
        "images": "all",
        "methods": 1,
    },
]
DEMO_TITLES = tuple(spec["title"] for spec in DEMO_STUDIES)
BOTS = 6
SAMPLE = 12

Source = tuple[int, int, list[str]]  # (classifier id, image set id, methods with maps)


class DemoUnavailable(StudyError):
    """The demo cannot draft its studies (no researcher, no image set with maps or a job)."""


@dataclass(frozen=True)
class DemoOpening:
    """What :func:`demo_studies_open` did with one demo draft."""

    study: Study
    opened: bool
    waiting: bool = False  # its maps or predictions are not all there yet
    reason: str = ""  # why a study whose maps are there could not open


def demo_studies() -> Any:
    """The demo researcher's demo studies (a queryset)."""
    return Study.objects.filter(owner__username=DEMO_OWNER, title__in=DEMO_TITLES)


def _sources() -> dict[str, Source]:
    """Image set name → its source, most maps (computed or planned by a job) first.

    A precompute job still running counts as the maps it will make, so that the demo's drafts
    exist while the worker computes them.
    """
    planned: dict[str, tuple[int, int, dict[str, int]]] = {}

    def add(name: str, classifier_id: int, image_set_id: int, method: str, n: int) -> None:
        entry = planned.setdefault(name, (classifier_id, image_set_id, {}))
        entry[2][method] = max(entry[2].get(method, 0), n)

    rows = SaliencyMap.objects.values(
        "classifier_id", "image__image_set_id", "image__image_set__name", "method"
    ).annotate(n=Count("id"))
    for row in rows.order_by("-n"):
        add(
            row["image__image_set__name"],
            row["classifier_id"],
            row["image__image_set_id"],
            row["method"],
            row["n"],
        )
    jobs = (
        PrecomputeJob.objects.exclude(
            state__in=[PrecomputeJob.State.FAILED, PrecomputeJob.State.CANCELLED]
        )
        .select_related("image_set")
        .annotate(n_images=Count("image_set__images", distinct=True))
        .order_by("created_at")
    )
    for job in jobs:
        for method in job.methods:
            add(job.image_set.name, job.classifier_id, job.image_set_id, method, job.n_images)
    ordered = sorted(planned.items(), key=lambda item: -max(item[1][2].values()))
    return {name: (c, i, sorted(methods)) for name, (c, i, methods) in ordered}


def _source(sources: dict[str, Source]) -> Source | None:
    """The source with the most maps among those with two methods (the direct protocols')."""
    for source in sources.values():
        if len(source[2]) >= 2:
            return source[0], source[1], source[2][:3]
    return None


def _short(error: Exception) -> str:
    reason = str(error)
    return reason if len(reason) <= 300 else reason[:300].rsplit(" ", 1)[0] + " …"


def demo_studies_draft(*, owner: Any) -> dict[str, str]:
    """Create the demo's drafts that do not exist yet; the protocols refused, with why.

    Raises :class:`DemoUnavailable` when no image set has (or is getting) maps of two methods.
    A draft's missing maps are those the demo's jobs compute: creating it starts no other job.
    """
    sources = _sources()
    source = _source(sources)
    if source is None:
        raise DemoUnavailable(
            "no image set has maps of two methods precomputed or being computed yet"
        )
    existing = set(demo_studies().values_list("title", flat=True))
    refused = {}
    installed = protocols()
    for spec in DEMO_STUDIES:
        if spec["protocol"] not in installed or spec["title"] in existing:
            continue  # a plug-in this installation does not have, or drafted before
        classifier_id, image_set_id, methods = sources.get(spec.get("image_set", "")) or source
        try:
            design = design_validate(
                protocol=spec["protocol"],
                configuration=spec["configuration"],
                flow=spec["flow"],
                stimuli={
                    "methods": methods[: spec.get("methods", 3)],
                    "images": spec["images"],
                    "sample": spec.get("sample", SAMPLE),
                },
                classifier=Classifier.objects.get(pk=classifier_id),
                image_set=ImageSet.objects.get(pk=image_set_id),
                user=owner,
            )
            study_create(owner=owner, title=spec["title"], design=design)
        except (ConfigError, StudyError) as error:
            refused[spec["protocol"]] = _short(error)
    return refused


def _maps_ready(study: Study) -> bool:
    check = check_study_stimuli(study)
    return not check.missing_maps and not check.missing_predictions


def _open(study_id: int) -> DemoOpening:
    """Launch one demo draft if its maps are ready (renders are drawn here, in this process)."""
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study_id)
        if study.state != Study.State.DRAFT:
            return DemoOpening(study, opened=False)  # opened by another call, or by hand
        if not _maps_ready(study):
            return DemoOpening(study, opened=False, waiting=True)
        try:
            with transaction.atomic():  # a refused launch leaves no half-made renders
                study_renders_make(study=study)
                study = study_transition(study=study, actor=study.owner, action="launch")
        except (ConfigError, StudyError) as error:
            return DemoOpening(study, opened=False, reason=_short(error))
    return DemoOpening(study, opened=True)


def demo_studies_open() -> list[DemoOpening]:
    """Launch every demo draft whose maps are ready and let :data:`BOTS` bots take part in each
    study launched here; one :class:`DemoOpening` per demo draft, in :data:`DEMO_STUDIES` order.
    """
    from studies.bots import simulate

    drafts = {s.title: s.pk for s in demo_studies().filter(state=Study.State.DRAFT)}
    openings = []
    for title in DEMO_TITLES:
        if title not in drafts:
            continue
        opening = _open(drafts[title])
        if opening.opened:
            logger.info("demo study opened: %s", title)
            simulate(opening.study, n=BOTS, seed=1)
        elif opening.reason:
            logger.warning("demo study %r cannot open: %s", title, opening.reason)
        openings.append(opening)
    return openings


def demo_studies_wait_on(*, job_id: int) -> bool:
    """Whether a demo draft uses the job's classifier and image set (the job may open it)."""
    job = PrecomputeJob.objects.filter(pk=job_id).values("classifier_id", "image_set_id").first()
    if job is None:
        return False
    return bool(
        demo_studies()
        .filter(
            state=Study.State.DRAFT,
            classifier_id=job["classifier_id"],
            image_set_id=job["image_set_id"],
        )
        .exists()
    )
