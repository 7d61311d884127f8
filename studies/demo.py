"""Demo content of the studies app (``manage.py demo`` calls :func:`load`).

On the first image set with maps of at least two methods precomputed, it creates a Likert and a
preference study for the demo researcher, opens them, and lets a few bots take part, so that the
monitor and the exports have data. Idempotent: a second run reuses the studies.
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
]
BOTS = 6


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
    for spec in DEMO_STUDIES:
        study = Study.objects.filter(owner=owner, title=spec["title"]).first()
        if study is None:
            try:
                design = design_validate(
                    protocol=spec["protocol"],
                    configuration=spec["configuration"],
                    flow=spec["flow"],
                    stimuli={"methods": source[2], "images": spec["images"], "sample": 12},
                    classifier=classifier,
                    image_set=image_set,
                    user=owner,
                )
                study = study_create(owner=owner, title=spec["title"], design=design)
                study = study_transition(study=study, actor=owner, action="launch")
            except (ConfigError, StudyError) as error:
                lines.append(f"Studies demo: {spec['protocol']} study not opened: {error}")
                continue
        if study.accepts_participants and not study.participants.exists():
            simulate(study, n=BOTS, seed=1)
        lines.append(
            f"{spec['title']}: take part at {{base}}/take/{study.link_token}/ · "
            f"monitor at {{base}}/studies/{study.uid}/monitor/"
        )
    return lines
