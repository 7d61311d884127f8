"""The methods section of a study's paper (the text itself: :mod:`analysis.methods_text`)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import pandas as pd

from analysis.methods_text import methods_markdown, sample_from_participants
from explainers.models import SaliencyMap
from studies import presentations
from studies.export import StudyExport
from studies.models import Study
from studies.protocols import get_protocol
from studies.services.analysis import analysis_latest
from studies.services.preregistration import preregistration_draft

__all__ = ["methods_text"]


def _map_ids(study: Study) -> set[int]:
    ids: set[int] = set()
    for data in study.stimuli.values_list("data", flat=True):
        for per_target in (data.get("maps") or {}).values():
            ids.update(int(ref["id"]) for ref in per_target.values() if ref and "id" in ref)
    return ids


def _maps(study: Study) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Per method the distinct parameter sets of the study's maps; the maps' software."""
    params: dict[str, list[dict[str, Any]]] = {}
    versions: dict[str, str] = {}
    rows = SaliencyMap.objects.filter(pk__in=_map_ids(study)).values_list(
        "method", "parameters", "versions"
    )
    for method, parameters, used in rows.order_by("pk"):
        known = params.setdefault(method, [])
        if parameters not in known:
            known.append(parameters)
        for name, version in (used or {}).items():
            versions.setdefault(str(name), str(version))
    return params, versions


def methods_text(study: Study) -> str:
    """The methods section (Markdown) with the numbers of the study's export."""
    export = StudyExport(study)
    table = pd.read_csv(
        io.StringIO(export.participants_csv()), dtype=str, na_values=["NA"], keep_default_na=False
    )
    plugin = get_protocol(study.protocol)
    params, versions = _maps(study)
    run = analysis_latest(study)
    if run is not None and isinstance(run.versions, Mapping):
        versions.update({str(k): str(v) for k, v in run.versions.items()})
    return methods_markdown(
        preregistration_draft(study)["plan"],
        sample_from_participants(table),
        title=study.title,
        protocol_label=plugin.label,
        method_parameters=params,
        presentation=presentations.describe(
            presentations.study_presentations(study.stimuli_selection)
        ),
        payment={
            "hourly_rate": study.flow.get("hourly_rate"),
            "currency": study.flow.get("currency"),
        },
        versions=versions,
    )
