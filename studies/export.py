"""Exports (STATISTICS.md, "Export"): tidy long CSV, participant table, codebook, study JSON.

Tidy CSV: one row per participant × answered main trial (× rated property for the Likert
properties variant), UTF-8, ``NA`` for missing values, ISO 8601 times, 0/1 booleans, Likert
ratings as integers. The columns the analysis package reads (``participant_id``, ``item_id``,
``trial_index``, the protocol's columns, ``excluded``, ``exclusion_reason``, ``rt_ms``) come with
condition columns. Exclusions apply the rules declared in the study's flow before launch, and
the researcher's own exclusions, with their reasons. Previews are never exported; pilot
participants only on request (with ``pilot`` = 1). The codebook is a Frictionless
``datapackage.json`` describing every column.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db.models import Count, Q

from studies import presentations
from studies.exclusions import Exclusion, exclusion_for
from studies.models import Participant, Study, Trial
from studies.protocols import Column, Protocol, get_protocol
from studies.questions import DEMOGRAPHICS
from studies.spec import study_spec

NA = "NA"
__all__ = ["Exclusion", "StudyExport", "exclusion_for"]

BASE_COLUMNS = [
    Column("participant_id", "string", "Pseudonymous participant id (P + arrival number)."),
    Column("condition", "string", "Between-subject condition (cell) the server assigned."),
]
TRIAL_COLUMNS = [
    Column("pilot", "boolean", "1 for a pilot participant (responses flagged as pilot)."),
    Column("item_id", "string", "The image: the first 16 hex digits of its SHA-256."),
    Column("trial_index", "integer", "Position of the trial in the session, from 0."),
]
TAIL_COLUMNS = [
    Column(
        "true_class",
        "string",
        "Ground-truth class of the image (not shown unless the protocol shows it).",
    ),
    Column("predicted_class", "string", "The classifier's predicted class."),
    Column("model_correct", "boolean", "1 when the classifier's prediction was correct."),
    Column("rt_ms", "number", "Response time in ms measured in the browser (performance.now())."),
    Column("server_rt_ms", "number", "Time in ms from serving the trial to receiving the answer."),
    Column("shown_at", "datetime", "When the trial was first served (UTC)."),
    Column("responded_at", "datetime", "When the answer was stored (UTC)."),
    Column(
        "excluded",
        "boolean",
        "1 when an exclusion rule or the researcher excluded the "
        "participant; analyses drop these rows.",
    ),
    Column("exclusion_reason", "string", "Why, when excluded (rules separated by '; ')."),
]


def _cell(value: Any) -> str:
    if value is None or value == "":
        return NA
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) < 1e15 else str(value)
    return str(value)


def _csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return buffer.getvalue()


def _factor_columns(study: Study) -> list[Column]:
    names: list[str] = []
    for factors in study.conditions.order_by("position").values_list("factors", flat=True):
        names += [k for k in factors if k not in names]
    columns = [
        Column(n, "string", f"Condition factor {n!r}.") for n in names if n != presentations.FACTOR
    ]
    return [*columns, _presentation_column(study)]


def _presentation_column(study: Study) -> Column:
    """How the participant's maps were drawn: a condition factor when the study has several."""
    entries = presentations.study_presentations(study.stimuli_selection)
    kind = "Condition factor" if len(entries) > 1 else "The study's one presentation"
    return Column(
        presentations.FACTOR,
        "string",
        f"{kind}: how the saliency maps were drawn for the participant. "
        f"{presentations.describe(entries)}.",
        {"enum": [name for name, _ in entries]},
    )


class StudyExport:
    """Builds the tables of one study (a handful of queries, whatever the number of rows)."""

    def __init__(self, study: Study, *, include_pilot: bool = False, recruiter_ids: bool = False):
        self.study = study
        self.protocol: Protocol = get_protocol(study.protocol)
        self.include_pilot = include_pilot
        self.recruiter_ids = recruiter_ids
        modes = [Participant.Mode.LIVE] + ([Participant.Mode.PILOT] if include_pilot else [])
        self.participants = list(
            study.participants.filter(mode__in=modes)
            .select_related("condition")
            .annotate(
                n_checks=Count(
                    "trials",
                    filter=Q(trials__kind=Trial.Kind.ATTENTION, trials__answered_at__isnull=False),
                )
            )
            .order_by("number")
        )
        trials = (
            Trial.objects.filter(
                participant__in=self.participants,
                kind=Trial.Kind.MAIN,
                response__isnull=False,
            )
            .select_related("response", "stimulus")
            .order_by("participant_id", "index")
        )
        self.trials: dict[int, list[Trial]] = {}
        for trial in trials:
            self.trials.setdefault(trial.participant_id, []).append(trial)
        self.factors = _factor_columns(study)
        self.presentation = presentations.study_presentations(study.stimuli_selection)[0][0]
        self.exclusions = {
            p.pk: exclusion_for(
                p,
                flow=study.flow,
                rts=[t.response.rt_ms for t in self.trials.get(p.pk, []) if t.response.rt_ms],
                answers=[
                    self.protocol.straightlining_value(t.response.scored)
                    for t in self.trials.get(p.pk, [])
                ],
            )
            for p in self.participants
        }

    # --- tidy responses -----------------------------------------------------------------------
    def response_columns(self) -> list[Column]:
        own = self.protocol.export_columns(self.study.configuration)
        names = {c.name for c in own}  # a protocol may describe a condition factor itself
        factors = [c for c in self.factors if c.name not in names]
        return [*BASE_COLUMNS, *factors, *TRIAL_COLUMNS, *own, *TAIL_COLUMNS]

    def response_rows(self) -> Iterable[dict[str, Any]]:
        config = self.study.configuration
        for participant in self.participants:
            exclusion = self.exclusions[participant.pk]
            head = self._participant_head(participant)
            for trial in self.trials.get(participant.pk, []):
                response = trial.response
                data = trial.stimulus.data if trial.stimulus else {}
                common = {
                    **head,
                    "pilot": participant.mode == Participant.Mode.PILOT,
                    "item_id": trial.item_id,
                    "trial_index": trial.index,
                    "true_class": data.get("label"),
                    "predicted_class": data.get("predicted_label"),
                    "model_correct": data.get("correct"),
                    "rt_ms": response.rt_ms,
                    "server_rt_ms": response.server_rt_ms,
                    "shown_at": trial.shown_at,
                    "responded_at": response.received_at,
                    "excluded": exclusion.excluded,
                    "exclusion_reason": exclusion.reason,
                }
                for row in self.protocol.export_rows(
                    config, hidden=trial.hidden, value=response.value, scored=response.scored
                ):
                    yield {**common, **row}

    def _participant_head(self, participant: Participant) -> dict[str, Any]:
        factors = dict(participant.condition.factors if participant.condition else {})
        factors.setdefault(presentations.FACTOR, self.presentation)
        return {
            "participant_id": participant.export_id,
            "condition": participant.condition.name if participant.condition else None,
            **{c.name: factors.get(c.name) for c in self.factors},
        }

    # --- participants -------------------------------------------------------------------------
    def _question_columns(self) -> list[Column]:
        columns = []
        if self.study.flow.get("demographics"):
            columns += [
                Column(f"demographics_{q['name']}", "string", q["text"]) for q in DEMOGRAPHICS
            ]
        columns += [
            Column(f"questionnaire_{q['name']}", "string", q["text"])
            for q in self.study.flow.get("questionnaire") or []
        ]
        return columns

    def participant_columns(self) -> list[Column]:
        columns = [
            *BASE_COLUMNS,
            *self.factors,
            Column("pilot", "boolean", "1 for a pilot participant."),
            Column("source", "string", "prolific, mturk or anonymous."),
            Column(
                "state",
                "string",
                "completed, in_progress, started, screened_out, timed_out, excluded or restarted.",
            ),
            Column("started_at", "datetime", "Arrival (UTC)."),
            Column("consented_at", "datetime", "Consent given (UTC)."),
            Column("completed_at", "datetime", "Completion (UTC)."),
            Column("duration_s", "number", "Seconds from arrival to completion."),
            Column(
                "n_trials", "integer", "Trials planned, practice and attention checks included."
            ),
            Column("n_answered", "integer", "Trials answered."),
            Column("attention_checks", "integer", "Attention checks answered."),
            Column("attention_failures", "integer", "Attention checks failed."),
            Column("median_rt_ms", "number", "Median response time over main trials (ms)."),
            Column("excluded", "boolean", "1 when excluded (see exclusion_reason)."),
            Column("exclusion_reason", "string", "Why, when excluded."),
            *self._question_columns(),
        ]
        if self.recruiter_ids:
            columns.append(
                Column(
                    "recruiter_pseudonym",
                    "string",
                    "Keyed hash (HMAC-SHA256) of the recruiter's participant id.",
                )
            )
        return columns

    def participant_rows(self) -> Iterable[dict[str, Any]]:
        for p in self.participants:
            rts = [t.response.rt_ms for t in self.trials.get(p.pk, []) if t.response.rt_ms]
            exclusion = self.exclusions[p.pk]
            row = {
                **self._participant_head(p),
                "pilot": p.mode == Participant.Mode.PILOT,
                "source": p.source,
                "state": p.state,
                "started_at": p.started_at,
                "consented_at": p.consented_at,
                "completed_at": p.completed_at,
                "duration_s": (p.completed_at - p.started_at).total_seconds()
                if p.completed_at
                else None,
                "n_trials": p.n_trials,
                "n_answered": p.n_answered,
                "attention_checks": getattr(p, "n_checks", None),
                "attention_failures": p.attention_failures,
                "median_rt_ms": statistics.median(rts) if rts else None,
                "excluded": exclusion.excluded,
                "exclusion_reason": exclusion.reason,
                "recruiter_pseudonym": p.recruiter_hash or None,
            }
            row.update({f"demographics_{k}": v for k, v in (p.demographics or {}).items()})
            row.update({f"questionnaire_{k}": v for k, v in (p.questionnaire or {}).items()})
            yield row

    # --- files --------------------------------------------------------------------------------
    def responses_csv(self) -> str:
        return _csv([c.name for c in self.response_columns()], self.response_rows())

    def participants_csv(self) -> str:
        return _csv([c.name for c in self.participant_columns()], self.participant_rows())

    def datapackage(self) -> dict[str, Any]:
        study = self.study

        def resource(name: str, title: str, columns: list[Column]) -> dict[str, Any]:
            return {
                "name": name,
                "path": f"{name}.csv",
                "title": title,
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "schema": {
                    "fields": [
                        {
                            "name": c.name,
                            "type": c.type,
                            "description": c.description,
                            **({"constraints": dict(c.constraints)} if c.constraints else {}),
                            **(
                                {"trueValues": ["1"], "falseValues": ["0"]}
                                if c.type == "boolean"
                                else {}
                            ),
                        }
                        for c in columns
                    ],
                    "missingValues": [NA],
                },
            }

        return {
            "profile": "tabular-data-package",
            "name": f"study-{study.uid}",
            "title": study.title,
            "description": study.description,
            "version": str(study.version),
            "created": datetime.now().astimezone().isoformat(),
            "keywords": ["saliency maps", "human evaluation", study.protocol],
            "study": {
                "protocol": study.protocol,
                "analyses": list(self.protocol.analyses),
                "state": study.state,
                "exclusion_rules": {
                    k: v for k, v in study.flow.items() if k.startswith("exclude_")
                },
                "include_pilot": self.include_pilot,
            },
            "resources": [
                resource(
                    "responses",
                    "Tidy long table: one row per participant and answered trial",
                    self.response_columns(),
                ),
                resource("participants", "One row per participant", self.participant_columns()),
            ],
        }

    def write(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        files = {
            "responses.csv": self.responses_csv(),
            "participants.csv": self.participants_csv(),
            "datapackage.json": json.dumps(self.datapackage(), indent=2, ensure_ascii=False),
            "study.json": json.dumps(study_spec(self.study), indent=2, ensure_ascii=False),
        }
        paths = []
        for name, text in files.items():
            path = folder / name
            path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
            paths.append(path)
        return paths
