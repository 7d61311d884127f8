"""Demo content of the studies app (``manage.py demo`` calls :func:`load`).

On the image set with the most maps (of at least two methods) precomputed, it creates one study
per installed protocol (Likert, preference, and model-output simulation and ground-truth
prediction when their plug-ins are registered) for the demo researcher, opens them, and lets a
few bots take part, so that the monitor, the results and the exports have data. A protocol the
image set cannot serve is reported with the protocol's own message. Idempotent: a second run
reuses the studies. The model-output simulation study uses the demo's image set of photograph
views (see :mod:`explainers.demo`), where the model both recognises and misses some classes.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count

from explainers.demo import VIEWS_SET
from explainers.models import SaliencyMap
from studies.bots import simulate
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

DEMO_OWNER = "researcher"
DEMO_STUDIES: list[dict[str, Any]] = [
    {
        "title": "Demo: how well do maps highlight the object? (Likert)",
        "protocol": "likert",
        "configuration": {"variant": "single_map"},
        "flow": {"attention_checks": 1},
        "images": "all",
    },
    {
        "title": "Demo: which explanation is better? (preference)",
        "protocol": "preference",
        "configuration": {},
        "flow": {"attention_checks": 1},
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
        "flow": {"attention_checks": 1},
        "images": "all",
        "methods": 1,
        "sample": None,
        "image_set": VIEWS_SET,
    },
    {
        "title": "Demo: do maps help find the true class? (ground-truth prediction)",
        "protocol": "gt_prediction",
        "configuration": {},
        "flow": {"attention_checks": 1},
        "images": "all",
        "methods": 1,
    },
]
BOTS = 6
SAMPLE = 12


Source = tuple[int, int, list[str]]  # (classifier id, image set id, methods with maps)


def _sources() -> dict[str, Source]:
    """Image set name → its source, in order of the number of maps (most first)."""
    rows = (
        SaliencyMap.objects.values(
            "classifier_id", "image__image_set_id", "image__image_set__name", "method"
        )
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    sources: dict[str, Source] = {}
    for row in rows:
        source = sources.setdefault(
            row["image__image_set__name"], (row["classifier_id"], row["image__image_set_id"], [])
        )
        source[2].append(row["method"])
    return {name: (c, i, sorted(methods)) for name, (c, i, methods) in sources.items()}


def _source() -> Source | None:
    """The source with the most maps among those with two methods (the direct protocols')."""
    for source in _sources().values():
        if len(source[2]) >= 2:
            return source[0], source[1], source[2][:3]
    return None


def load(stdout: Any = None) -> list[str]:
    owner = get_user_model().objects.filter(username=DEMO_OWNER).first()
    if owner is None:
        return ["Studies demo skipped: no demo researcher."]
    source = _source()
    if source is None:
        return ["Studies demo skipped: no image set has maps of two methods precomputed yet."]
    from explainers.models import Classifier, ImageSet

    sources = _sources()
    lines = []
    installed = protocols()
    for spec in DEMO_STUDIES:
        if spec["protocol"] not in installed:
            continue  # a plug-in this installation does not have
        study = Study.objects.filter(owner=owner, title=spec["title"]).first()
        if study is None:
            own = sources.get(spec.get("image_set", ""))
            classifier_id, image_set_id, methods = own or source
            classifier = Classifier.objects.get(pk=classifier_id)
            image_set = ImageSet.objects.get(pk=image_set_id)
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
                    classifier=classifier,
                    image_set=image_set,
                    user=owner,
                )
                # Created and launched together: a study that cannot open leaves no draft behind,
                # so the next run tries again instead of printing a link that does not work.
                with transaction.atomic():
                    study = study_create(owner=owner, title=spec["title"], design=design)
                    study_renders_make(study=study)
                    study = study_transition(study=study, actor=owner, action="launch")
            except (ConfigError, StudyError) as error:
                reason = str(error)
                reason = reason if len(reason) <= 300 else reason[:300].rsplit(" ", 1)[0] + " …"
                lines.append(f"Studies demo: {spec['protocol']} study not opened: {reason}")
                continue
        if not study.accepts_participants:
            lines.append(f"{spec['title']}: {study.get_state_display()} (see {{base}}/studies/)")
            continue
        if not study.participants.exists():
            simulate(study, n=BOTS, seed=1)
        lines.append(
            f"{spec['title']}: take part at {{base}}/take/{study.link_token}/ · "
            f"monitor at {{base}}/studies/{study.uid}/monitor/ · "
            f"results at {{base}}/studies/{study.uid}/results/"
        )
    return lines
