"""The live monitor's numbers beyond the basic counts: completion rates, exclusions by reason,
the declared rules, and the table (and CSV) of current participants."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from studies.exclusions import declared_rules
from studies.export import _csv
from studies.models import Participant, Study
from studies.selectors import Monitor, monitor

State = Participant.State
PARTICIPANT_COLUMNS = (
    "participant_id",
    "condition",
    "mode",
    "state",
    "page",
    "answered",
    "trials",
    "attention_failures",
    "started_at",
    "last_seen_at",
    "duration_s",
    "excluded",
    "exclusion_reason",
    "included_by_researcher",
)


@dataclass
class CellRate:
    name: str
    started: int
    completed: int

    @property
    def rate(self) -> float | None:
        return self.completed / self.started if self.started else None


@dataclass
class LiveMonitor:
    base: Monitor
    completion_rate: float | None
    cells: list[CellRate]
    exclusion_reasons: list[tuple[str, int]]
    rules: list[str]
    participants: list[Participant] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        base = self.base
        return {
            "states": base.states,
            "conditions": [
                {
                    "name": c.name,
                    "states": c.states,
                    "total": c.total,
                    "completion_rate": rate.rate,
                }
                for c, rate in zip(base.conditions, self.cells, strict=True)
            ],
            "median_minutes": base.median_minutes,
            "attention_failures": base.attention_failures,
            "participants_with_failures": base.participants_with_failures,
            "completion_rate": self.completion_rate,
            "exclusion_reasons": dict(self.exclusion_reasons),
            "last_seen": base.last_seen.isoformat() if base.last_seen else None,
        }


def _finished(participant: Participant) -> bool:
    return participant.completed_at is not None


def live_monitor(study: Study) -> LiveMonitor:
    """Everything the monitor page shows (a few queries, whatever the number of participants)."""
    base = monitor(study)
    participants = list(
        study.participants.exclude(mode=Participant.Mode.PREVIEW)
        .exclude(state=State.RESTARTED)
        .select_related("condition")
        .order_by("-last_seen_at")
    )
    per_cell: dict[str, list[Participant]] = {}
    for p in participants:
        per_cell.setdefault(p.condition.name if p.condition else "", []).append(p)
    cells = [
        CellRate(
            c.name,
            len(per_cell.get(c.name, [])),
            sum(map(_finished, per_cell.get(c.name, []))),
        )
        for c in base.conditions
    ]
    reasons: Counter[str] = Counter()
    for p in participants:
        if p.state in (State.EXCLUDED, State.SCREENED_OUT):
            for reason in (p.exclusion_reason or "no reason").split("; "):
                reasons[reason] += 1
    done = sum(map(_finished, participants))
    return LiveMonitor(
        base=base,
        completion_rate=done / len(participants) if participants else None,
        cells=cells,
        exclusion_reasons=sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])),
        rules=declared_rules(study.flow),
        participants=participants,
    )


def participant_rows(participants: Iterable[Participant]) -> Iterable[dict[str, Any]]:
    for p in participants:
        excluded = p.state in (State.EXCLUDED, State.SCREENED_OUT)
        yield {
            "participant_id": p.export_id,
            "condition": p.condition.name if p.condition else None,
            "mode": p.mode,
            "state": p.state,
            "page": p.page,
            "answered": p.n_answered,
            "trials": p.n_trials,
            "attention_failures": p.attention_failures,
            "started_at": p.started_at,
            "last_seen_at": p.last_seen_at,
            "duration_s": (p.completed_at - p.started_at).total_seconds()
            if p.completed_at
            else None,
            "excluded": excluded,
            "exclusion_reason": p.exclusion_reason if excluded else None,
            # the researcher included them again: the declared rules do not apply to them
            "included_by_researcher": p.included_by_researcher,
        }


def participants_csv(live: LiveMonitor) -> str:
    """The current participants, one row each (NA for missing, 0/1 flags, ISO 8601 times)."""
    return _csv(PARTICIPANT_COLUMNS, participant_rows(live.participants))
