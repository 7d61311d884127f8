"""Read paths of the studies app: what a researcher may see, a participant's current trial,
the live monitor's numbers."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Max
from django.http import Http404

from studies.models import Participant, Study, Trial


def study_for(user: Any, uid: Any, *, edit: bool = False) -> Study:
    """A study the user may see (or edit); 404 otherwise, so others' studies stay invisible."""
    queryset = Study.objects.editable_by(user) if edit else Study.objects.visible_to(user)
    study = queryset.select_related("classifier", "image_set", "owner").filter(uid=uid).first()
    if study is None:
        raise Http404("no such study")
    return study


def can_edit(user: Any, study: Study) -> bool:
    return Study.objects.editable_by(user).filter(pk=study.pk).exists()


def participant_by_code(code: str) -> Participant:
    try:  # get(), not first(): the code is unique, and first() compiles an ORDER BY per request
        return Participant.objects.select_related("study", "condition").get(code=code)
    except Participant.DoesNotExist:
        raise Http404("no such session") from None


def returning_participant(study: Study, recruiter_hash: str) -> Participant | None:
    """The session of a recruiter id that may simply resume (resume policy), if any."""
    if not recruiter_hash or study.flow.get("resume_policy", "resume") != "resume":
        return None
    return (
        Participant.objects.filter(study=study, recruiter_hash=recruiter_hash)
        .exclude(mode=Participant.Mode.PREVIEW)
        .exclude(state=Participant.State.RESTARTED)
        .first()
    )


def current_trial(participant: Participant) -> Trial | None:
    """The trial the participant must answer now, if they are on a trial page."""
    if participant.page not in ("practice", "trials"):
        return None
    if participant.n_answered >= participant.n_trials:
        return None
    try:  # (participant, index) is unique
        return Trial.objects.get(participant=participant, index=participant.n_answered)
    except Trial.DoesNotExist:
        return None


def asset_name(code: str, token: str) -> str | None:
    """The stored file behind an opaque image token of one of the trials of the participant with
    session code ``code`` (None for an unknown code or token): one query, no row loaded."""
    found = Trial.objects.filter(participant__code=code, assets__has_key=token).order_by()
    assets = next(iter(found.values_list("assets", flat=True)[:1]), None)  # any one will do
    return None if assets is None else assets.get(token)


@dataclass
class ConditionRow:
    name: str
    factors: dict[str, Any]
    quota: int | None
    states: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.states.values())


@dataclass
class Monitor:
    conditions: list[ConditionRow]
    states: dict[str, int]
    median_minutes: float | None
    attention_failures: int
    participants_with_failures: int
    last_seen: datetime | None
    recent: list[Participant]


def monitor(study: Study, *, mode: str | None = None) -> Monitor:
    """Participants per condition and state, durations, attention failures (a few queries)."""
    participants = study.participants.exclude(mode=Participant.Mode.PREVIEW)
    if mode:
        participants = participants.filter(mode=mode)
    counts = participants.values("condition__name", "state").annotate(n=Count("id"))
    rows = {
        c.name: ConditionRow(c.name, c.factors, c.quota)
        for c in study.conditions.order_by("position")
    }
    states: dict[str, int] = {}
    for entry in counts:
        row = rows.get(entry["condition__name"])
        if row is not None:
            row.states[entry["state"]] = entry["n"]
        states[entry["state"]] = states.get(entry["state"], 0) + entry["n"]
    durations = [
        (done - start).total_seconds() / 60
        for start, done in participants.filter(completed_at__isnull=False).values_list(
            "started_at", "completed_at"
        )
        if done is not None
    ]
    agg = participants.aggregate(last=Max("last_seen_at"))
    failures = list(
        participants.filter(attention_failures__gt=0).values_list("attention_failures", flat=True)
    )
    recent = list(participants.select_related("condition").order_by("-last_seen_at")[:20])
    return Monitor(
        conditions=list(rows.values()),
        states=states,
        median_minutes=statistics.median(durations) if durations else None,
        attention_failures=sum(failures),
        participants_with_failures=len(failures),
        last_seen=agg["last"],
        recent=recent,
    )
