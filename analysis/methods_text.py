"""A methods section for a paper, in plain words with the study's real numbers.

Pure Python (no Django). Inputs: the study's plan (``plan`` of
:func:`analysis.preregistration.document`, so that the text and the preregistration describe
the same design), the participants table as exported (``participants.csv``: ``state``,
``source``, ``duration_s``, ``excluded``, ``exclusion_reason``, ``pilot``), and what the platform
knows besides: the methods' parameters as the maps were computed, the presentation convention,
the payment, and the software versions. :func:`sample_from_participants` computes every number
the text states from that table, so that the text's numbers are the export's.

The text has four paragraphs in the order of APA's Journal Article Reporting Standards
(participants, materials, design and procedure, analysis).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.preregistration import EXCLUSION_RULES

__all__ = ["Sample", "duration", "methods_markdown", "sample_from_participants"]

SOURCES = {"prolific": "Prolific", "mturk": "Amazon Mechanical Turk", "anonymous": "a study link"}


@dataclass(frozen=True)
class Sample:
    """The participants as the export counts them (live participants; pilots left out)."""

    recruited: int
    completed: int
    excluded: int
    analysed: int
    reasons: dict[str, int] = field(default_factory=dict)  # reason → participants
    median_minutes: float | None = None  # over the participants with a duration
    sources: dict[str, int] = field(default_factory=dict)


def _flag(series: pd.Series) -> pd.Series:
    return series.astype(str).str.strip().str.lower().isin({"1", "1.0", "true", "yes"})


def sample_from_participants(table: pd.DataFrame) -> Sample:
    """Counts of ``participants.csv``: recruited (every row but pilots), completed (state
    completed, or excluded after completing: ``duration_s`` set), excluded (``excluded`` = 1)
    with each reason (``exclusion_reason``, rules separated by '; ') counted once per
    participant, analysed (recruited − excluded), median duration in minutes."""
    need = ("state", "source", "duration_s", "excluded", "exclusion_reason")
    if missing := [c for c in need if c not in table.columns]:
        raise ValueError(f"the participants table lacks column(s): {', '.join(missing)}")
    live = table[~_flag(table["pilot"])] if "pilot" in table.columns else table
    excluded = _flag(live["excluded"])
    duration = pd.to_numeric(live["duration_s"], errors="coerce")
    reasons: Counter[str] = Counter()
    for text in live.loc[excluded, "exclusion_reason"].fillna(""):
        for reason in dict.fromkeys(r.strip() for r in str(text).split(";") if r.strip()):
            reasons[reason] += 1
    finished = duration.dropna()
    return Sample(
        recruited=len(live),
        completed=int(duration.notna().sum()),
        excluded=int(excluded.sum()),
        analysed=int((~excluded).sum()),
        reasons=dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        median_minutes=float(finished.median() / 60.0) if len(finished) else None,
        sources=dict(sorted(Counter(live["source"].astype(str)).items())),
    )


def duration(minutes: float) -> str:
    """``12.5 minutes``; under a minute in seconds (``42 seconds``)."""
    return f"{minutes:.1f} minutes" if minutes >= 1 else f"{minutes * 60:.0f} seconds"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _list(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + f", and {items[-1]}"


def _params(value: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in sorted(value.items()))


def methods_markdown(
    plan: Mapping[str, Any],
    sample: Sample,
    *,
    title: str,
    protocol_label: str,
    method_parameters: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    presentation: str | None = None,
    payment: Mapping[str, Any] | None = None,
    versions: Mapping[str, str] | None = None,
) -> str:
    """The methods section as Markdown (a heading and four paragraphs).

    ``method_parameters``: method → the distinct parameter sets its maps were computed with;
    ``payment``: ``{"hourly_rate", "currency"}`` (the flow's plan); ``versions``: package →
    version (the analysis run's and the maps')."""
    conditions = [str(c["name"]) for c in plan.get("conditions") or []]
    config: Mapping[str, Any] = plan.get("configuration") or {}
    # Participants
    where = _list(
        [
            f"{SOURCES.get(src, src)} ({n})" if len(sample.sources) > 1 else SOURCES.get(src, src)
            for src, n in sample.sources.items()
        ]
    )
    parts = [
        f"{_count(sample.recruited, 'participant')} took part"
        + (f", recruited through {where}" if where else "")
        + f"; {sample.completed} completed the study."
    ]
    if payment and payment.get("hourly_rate") is not None:
        parts.append(
            f"Participants were paid at a rate of {payment['hourly_rate']:g} "
            f"{payment.get('currency') or ''} per hour".rstrip()
            + "."
        )
    if sample.median_minutes is not None:
        parts.append(f"The median duration was {duration(sample.median_minutes)}.")
    if sample.excluded:
        why = "; ".join(f"{reason}: {n}" for reason, n in sample.reasons.items())
        parts.append(
            f"{_count(sample.excluded, 'participant')} were excluded ({why}), leaving "
            f"{sample.analysed} for the analysis."
            if sample.excluded != 1
            else f"1 participant was excluded ({why}), leaving {sample.analysed} for the analysis."
        )
    else:
        parts.append(f"No participant was excluded; {sample.analysed} were analysed.")
    rules = plan.get("exclusions") or {}
    if rules:
        parts.append(
            "The exclusion rules were declared before data collection: participants who "
            + "; ".join(
                EXCLUSION_RULES[k].format(v) for k, v in rules.items() if k in EXCLUSION_RULES
            )
            + "."
        )
    planned = plan.get("planned_sample")
    if planned:
        parts.append(f"The planned sample was {planned['n_total']} ({planned['statement']}).")
    participants = " ".join(parts)
    # Materials
    classifier = plan.get("classifier") or {}
    methods = list(plan.get("methods") or [])
    materials = [
        f"The stimuli were {_count(int(plan.get('n_items') or 0), 'image')} from the image set "
        f"“{plan.get('image_set')}” ({plan.get('images') or 'all'} images), classified by "
        f"{classifier.get('name', 'the classifier')}"
        + (f" (weights SHA-256 {classifier['sha256'][:12]}…)" if classifier.get("sha256") else "")
        + "."
    ]
    if methods:
        described = []
        for m in methods:
            sets = list((method_parameters or {}).get(m) or [])
            if len(sets) == 1 and sets[0]:
                described.append(f"{m} ({_params(sets[0])})")
            elif len(sets) > 1:
                described.append(f"{m} ({len(sets)} parameter settings)")
            else:
                described.append(m)
        materials.append(
            f"Saliency maps were computed with {_count(len(methods), 'explanation method')}: "
            f"{_list(described)}."
        )
    if presentation:
        materials.append(f"Maps were presented as follows: {presentation}.")
    # Design and procedure
    within = config.get("design") == "within"
    design = [
        f"The study used the {protocol_label} protocol ({plan.get('protocol')}) with "
        f"{_count(len(conditions), 'condition')} ({_list(conditions) or 'one'}), "
        + (
            "varied within participants and balanced over images by a Latin square."
            if within
            else "assigned between participants to the least-filled condition."
        )
    ]
    if config:
        design.append(f"Protocol settings: {_params(config)}.")
    # Analysis
    analyses = " ".join(str(a) for a in plan.get("analyses") or [])
    software = ", ".join(f"{k} {v}" for k, v in sorted((versions or {}).items()))
    analysis = analyses + (f" Software: {software}." if software else "")
    return (
        f"## Methods: {title}\n\n"
        f"**Participants.** {participants}\n\n"
        f"**Materials.** {' '.join(materials)}\n\n"
        f"**Design and procedure.** {' '.join(design)}\n\n"
        f"**Analysis.** {analysis}\n"
    )
