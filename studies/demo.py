"""Demo content of the studies app (``manage.py demo`` calls :func:`load`).

On the image set with the most maps (of at least two methods) precomputed, it creates one study
per installed protocol (Likert, preference, and model-output simulation and ground-truth
prediction when their plug-ins are registered) for the demo researcher, opens them, and lets a
few bots take part, so that the monitor, the results and the exports have data. A protocol the
image set cannot serve is reported with the protocol's own message. Idempotent: a second run
reuses the studies.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count

from explainers.models import SaliencyMap
from studies.bots import simulate
from studies.configschema import ConfigError
from studies.errors import StudyError
from studies.models import Study
from studies.protocols import protocols
from studies.services.studies import design_validate, study_create, study_transition

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
        "configuration": {"tasks": 4, "negatives": "any_class"},
        "flow": {"attention_checks": 1},
        "images": "all",
        "methods": 1,
        "sample": None,
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


def _source() -> tuple[int, int, list[str]] | None:
    """(classifier id, image set id, methods) with the most maps, if two methods exist."""
    rows = (
        SaliencyMap.objects.values("classifier_id", "image__image_set_id", "method")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    methods: dict[tuple[int, int], list[str]] = {}
    for row in rows:
        key = (row["classifier_id"], row["image__image_set_id"])
        methods.setdefault(key, []).append(row["method"])
    for (classifier_id, image_set_id), names in methods.items():
        if len(names) >= 2:
            return classifier_id, image_set_id, sorted(names)[:3]
    return None


def load(stdout: Any = None) -> list[str]:
    owner = get_user_model().objects.filter(username=DEMO_OWNER).first()
    if owner is None:
        return ["Studies demo skipped: no demo researcher."]
    source = _source()
    if source is None:
        return ["Studies demo skipped: no image set has maps of two methods precomputed yet."]
    from explainers.models import Classifier, ImageSet

    classifier = Classifier.objects.get(pk=source[0])
    image_set = ImageSet.objects.get(pk=source[1])
    lines = []
    installed = protocols()
    for spec in DEMO_STUDIES:
        if spec["protocol"] not in installed:
            continue  # a plug-in this installation does not have
        study = Study.objects.filter(owner=owner, title=spec["title"]).first()
        if study is None:
            try:
                design = design_validate(
                    protocol=spec["protocol"],
                    configuration=spec["configuration"],
                    flow=spec["flow"],
                    stimuli={
                        "methods": source[2][: spec.get("methods", 3)],
                        "images": spec["images"],
                        "sample": spec.get("sample", SAMPLE),
                    },
                    classifier=classifier,
                    image_set=image_set,
                    user=owner,
                )
                study = study_create(owner=owner, title=spec["title"], design=design)
                study = study_transition(study=study, actor=owner, action="launch")
            except (ConfigError, StudyError) as error:
                reason = str(error)
                reason = reason if len(reason) <= 300 else reason[:300].rsplit(" ", 1)[0] + " …"
                lines.append(f"Studies demo: {spec['protocol']} study not opened: {reason}")
                continue
        if study.accepts_participants and not study.participants.exists():
            simulate(study, n=BOTS, seed=1)
        lines.append(
            f"{spec['title']}: take part at {{base}}/take/{study.link_token}/ · "
            f"monitor at {{base}}/studies/{study.uid}/monitor/"
        )
    return lines
