"""Read paths of the studies app: what a researcher may see, a participant's current trial,
the live monitor's numbers."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Max, QuerySet
from django.http import Http404

from studies.models import Participant, Study, Trial

if TYPE_CHECKING:
    from explainers.models import FaithfulnessScore, PrecomputeJob


def study_for(user: Any, uid: Any, *, edit: bool = False) -> Study:
    """A study the user may see (or edit); 404 otherwise, so others' studies stay invisible."""
    queryset = Study.objects.editable_by(user) if edit else Study.objects.visible_to(user)
    study = queryset.select_related("classifier", "image_set", "owner").filter(uid=uid).first()
    if study is None:
        raise Http404("no such study")
    return study


def study_map_items(study: Study) -> dict[int, tuple[str, str]]:
    """Map id → (item, method) of the maps the study shows for each image's predicted class."""
    ids: dict[int, tuple[str, str]] = {}
    for item_id, data in study.stimuli.values_list("item_id", "data"):
        for method, per_target in (data.get("maps") or {}).items():
            ref = per_target.get("predicted") or next(iter(per_target.values()), None)
            if ref:
                ids[int(ref["id"])] = (item_id, method)
    return ids


def study_scores(study: Study) -> QuerySet[FaithfulnessScore]:
    """The faithfulness scores of the maps the study shows (:func:`study_map_items`)."""
    from explainers.models import FaithfulnessScore

    return FaithfulnessScore.objects.filter(saliency_map_id__in=study_map_items(study))


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


def current_and_next_trial(participant: Participant) -> tuple[Trial | None, Trial | None]:
    """The current trial and the one after it (its pictures are fetched while the participant
    answers), in one query; ``(None, None)`` off the trial pages."""
    if participant.page not in ("practice", "trials"):
        return None, None
    index = participant.n_answered
    if index >= participant.n_trials:
        return None, None
    found = {
        t.index: t
        for t in Trial.objects.filter(participant=participant, index__in=(index, index + 1))
    }
    return found.get(index), found.get(index + 1)


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


def precompute_job_in_progress(
    *, study: Study, methods: list[str], targets: list[str]
) -> PrecomputeJob | None:
    """An unfinished job on the study's classifier and image set that computes every one of
    ``methods`` for every one of ``targets`` (its maps arrive without another job)."""
    from explainers.models import PrecomputeJob

    jobs = PrecomputeJob.objects.filter(
        classifier=study.classifier,
        image_set=study.image_set,
        state__in=[PrecomputeJob.State.PENDING, PrecomputeJob.State.RUNNING],
    ).order_by("-created_at")
    for job in jobs:
        if set(methods) <= set(job.methods) and set(targets) <= set(job.targets):
            return job
    return None


@dataclass(frozen=True)
class StudyCost:
    """The cost of a study's planned sample, and where its duration came from."""

    plan: Any  # analysis.cost.CostPlan, or None when the inputs are missing
    source: str  # "stated", "pilot median (n completed)", or why there is no estimate


def pilot_median_minutes(study: Study) -> tuple[float | None, int]:
    """The median duration (minutes) of the pilot's completed sessions, and how many there are."""
    from analysis.cost import median_minutes

    rows = study.participants.filter(
        mode=Participant.Mode.PILOT, completed_at__isnull=False
    ).values_list("started_at", "completed_at")
    durations = [(done - start).total_seconds() for start, done in rows if done is not None]
    return median_minutes(durations), len(durations)


def study_cost(study: Study) -> StudyCost:
    """Participants per condition (the quota) × duration × rate, plus fee and tax (the flow's
    plan options; :mod:`analysis.cost`). The duration: the stated one, else the pilot's median."""
    from analysis.cost import plan_cost

    flow = study.flow
    rows = list(study.conditions.order_by("position").values_list("name", "quota"))
    if not rows or any(q is None for _, q in rows):
        return StudyCost(None, "set the participants per condition to see the cost")
    quotas = {name: int(q) for name, q in rows if q is not None}
    if flow.get("hourly_rate") is None:
        return StudyCost(None, "set the payment per hour to see the cost")
    minutes, source = flow.get("expected_minutes"), "stated duration"
    if minutes is None:
        minutes, n = pilot_median_minutes(study)
        if minutes is None:
            return StudyCost(None, "state the expected duration (or run a pilot) to see the cost")
        source = f"the pilot's median duration ({n} completed session{'s' if n != 1 else ''})"
    plan = plan_cost(
        quotas,
        minutes=minutes,
        hourly_rate=flow["hourly_rate"],
        fee_percent=flow.get("platform_fee_percent") or 0.0,
        tax_percent=flow.get("tax_percent") or 0.0,
        tax_on=flow.get("tax_on") or "fee",
        currency=flow.get("currency") or "",
    )
    return StudyCost(plan, source)


@dataclass(frozen=True)
class DemoWaiting:
    """The demo's drafts that wait for their maps, and how far the jobs that make them are."""

    studies: list[Study]
    maps_done: int
    maps_total: int


def demo_waiting(user: Any, *, study: Study | None = None) -> DemoWaiting | None:
    """The demo drafts ``user`` can see whose precompute job is not finished (or only ``study``
    when given); ``None`` when there is none. The maps are counted over the latest job on each
    draft's classifier and image set (cancelled ones aside); a job not yet dispatched counts its
    images × methods."""
    from explainers.models import PrecomputeJob
    from studies.services.demo import demo_studies

    ids = demo_studies().filter(state=Study.State.DRAFT).values("pk")
    drafts = Study.objects.visible_to(user).filter(pk__in=ids)
    if study is not None:
        drafts = drafts.filter(pk=study.pk)
    waiting: list[Study] = []
    done = total = 0
    pairs: dict[tuple[int, int], Any] = {}
    for draft in drafts.select_related("classifier", "image_set").order_by("title"):
        key = (draft.classifier_id, draft.image_set_id)
        if key not in pairs:
            pairs[key] = (
                PrecomputeJob.objects.filter(classifier_id=key[0], image_set_id=key[1])
                .exclude(state=PrecomputeJob.State.CANCELLED)
                .annotate(n_images=Count("image_set__images", distinct=True))
                .order_by("-created_at")
                .first()
            )
            job = pairs[key]
            if job is not None and not job.is_finished:
                done += job.completed + job.failed
                total += job.total or job.n_images * len(job.methods)
        job = pairs[key]
        if job is not None and not job.is_finished:
            waiting.append(draft)
    return DemoWaiting(waiting, done, total) if waiting else None
