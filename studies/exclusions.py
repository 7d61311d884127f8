"""Exclusion rules declared in the study's flow before launch, applied automatically.

Rules (``flow``): ``exclude_attention_failures`` (at least this many failed attention checks),
``exclude_median_rt_below_ms`` (median client response time over main trials below the
threshold: "too fast"), ``exclude_straightlining`` (the same answer to every main trial, as the
protocol defines "the same"), ``exclude_incomplete`` (export only). They are applied

- when a participant completes (:func:`participant_rules_apply`): a participant who breaks a rule
  is marked excluded with the reasons, logged as an event, shown as such in the monitor, and no
  longer counted by the balanced assignment (so another participant fills the cell);
- again in the export (:func:`exclusion_for`), which also reports the researcher's own
  exclusions and incomplete sessions, with the flag and the reasons.

A participant the researcher included again (``Participant.included_by_researcher``, set by
``participant_exclude(excluded=False)`` and logged as ``participant.included``) is exempt from
the declared rules everywhere: not excluded at completion, not in the export, and counted by the
assignment. The researcher's later exclusion clears the override.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from studies.models import Participant, Response, Trial
from studies.protocols import get_protocol
from studies.services.events import event_log

REASON_ATTENTION = "failed attention checks"
REASON_TOO_FAST = "too fast"
REASON_STRAIGHTLINING = "straight-lining"


@dataclass
class Exclusion:
    excluded: bool
    reason: str


def rule_reasons(
    participant: Participant,
    *,
    flow: Mapping[str, Any],
    rts: Sequence[float],
    answers: Sequence[Any],
) -> list[str]:
    """The declared rules this participant breaks (empty: none)."""
    reasons = []
    limit = flow.get("exclude_attention_failures")
    if limit and participant.attention_failures >= limit:
        reasons.append(REASON_ATTENTION)
    floor = flow.get("exclude_median_rt_below_ms")
    if floor and rts and statistics.median(rts) < floor:
        reasons.append(REASON_TOO_FAST)
    values = [a for a in answers if a is not None]
    if flow.get("exclude_straightlining") and len(values) > 1 and len(set(values)) == 1:
        reasons.append(REASON_STRAIGHTLINING)
    return reasons


def exclusion_for(
    participant: Participant,
    *,
    flow: Mapping[str, Any],
    rts: Sequence[float],
    answers: Sequence[Any],
) -> Exclusion:
    """Flag and reasons for the export: the researcher's or automatic exclusion first, then the
    session's end, then every declared rule (each reason once). A participant the researcher
    included again is not excluded (unless screened out, which ended the session)."""
    reasons: list[str] = []
    state = participant.state
    if state == Participant.State.EXCLUDED:
        reasons += [r for r in (participant.exclusion_reason or "").split("; ") if r] or [
            "excluded by the researcher"
        ]
    elif state == Participant.State.SCREENED_OUT:
        reasons.append(f"screened out ({participant.exclusion_reason or 'no reason'})")
    elif participant.included_by_researcher:  # the researcher's decision overrides the rules
        return Exclusion(False, "")
    elif flow.get("exclude_incomplete", True) and state != Participant.State.COMPLETED:
        reasons.append("incomplete")
    for reason in rule_reasons(participant, flow=flow, rts=rts, answers=answers):
        if reason not in reasons:
            reasons.append(reason)
    return Exclusion(bool(reasons), "; ".join(reasons))


def _main_responses(participant: Participant) -> list[Response]:
    return list(
        Response.objects.filter(participant=participant, trial__kind=Trial.Kind.MAIN).order_by(
            "trial__index"
        )
    )


def participant_rules_apply(*, participant: Participant) -> Participant:
    """Exclude a completed participant who breaks a declared rule; call inside a transaction.

    Sets the state to excluded with the reasons and logs ``participant.excluded`` with
    ``automatic: true``; the participant still sees the completion page (exclusion concerns the
    analysis, not the session).
    """
    if participant.state != Participant.State.COMPLETED or participant.mode == "preview":
        return participant
    if participant.included_by_researcher:  # included again before completing
        return participant
    study = participant.study
    plugin = get_protocol(study.protocol)
    responses = _main_responses(participant)
    reasons = rule_reasons(
        participant,
        flow=study.flow,
        rts=[r.rt_ms for r in responses if r.rt_ms],
        answers=[plugin.straightlining_value(r.scored) for r in responses],
    )
    if not reasons:
        return participant
    assert transaction.get_connection().in_atomic_block
    participant.state = Participant.State.EXCLUDED
    participant.exclusion_reason = "; ".join(reasons)
    participant.save(update_fields=["state", "exclusion_reason"])
    event_log(
        study=study,
        participant=participant,
        kind="participant.excluded",
        data={"reason": participant.exclusion_reason, "automatic": True},
    )
    return participant


def declared_rules(flow: Mapping[str, Any]) -> list[str]:
    """The rules in words, for the monitor and the codebook."""
    out = []
    if flow.get("exclude_attention_failures"):
        out.append(f"{flow['exclude_attention_failures']}+ failed attention check(s)")
    if flow.get("exclude_median_rt_below_ms"):
        out.append(f"median response time below {flow['exclude_median_rt_below_ms']} ms")
    if flow.get("exclude_straightlining"):
        out.append("the same answer to every trial (straight-lining)")
    if flow.get("exclude_incomplete", True):
        out.append("incomplete sessions (export)")
    return out
