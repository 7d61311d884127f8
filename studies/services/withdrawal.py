"""Withdrawal: a participant's data deleted on request, with an audit event that outlives it.

Participants may withdraw their data after taking part (GDPR art. 17; most ethics protocols). They
write to the researcher, giving either their recruiter id (the Prolific or MTurk id the platform
only stores as a keyed hash) or the completion code's session number; the researcher finds the
session and deletes it here. The participant row goes with its trials, responses and its own
events, and so do the sessions the same recruiter id restarted earlier; what remains is one study-
level event saying who deleted which participant number when, and how much was deleted, so that
exports and analyses can account for the gap. The participant number is never reused (the study's
counter keeps counting).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from studies.errors import StudyError
from studies.models import Event, Participant, Response, Study, Trial
from studies.recruitment import pseudonym
from studies.selectors import can_edit
from studies.services.events import event_log

WITHDRAWN = "participant.withdrawn"


class ParticipantNotFound(StudyError):
    code = "not_found"
    status = 404


@dataclass(frozen=True)
class Withdrawal:
    number: int
    responses: int
    trials: int
    events: int
    audit: Event


def participant_find(
    *, study: Study, number: int | None = None, recruiter_id: str = ""
) -> Participant:
    """The participant by export number (``P0007`` or ``7``) or by raw recruiter id."""
    queryset = study.participants.all()
    if recruiter_id.strip():
        found = (
            queryset.filter(recruiter_hash=pseudonym(recruiter_id))
            .exclude(state=Participant.State.RESTARTED)
            .first()
        )
    elif number is not None:
        found = queryset.filter(number=number).first()
    else:
        raise StudyError("give the participant's number or recruiter id")
    if found is None:
        raise ParticipantNotFound("this study has no such participant")
    return found


def parse_number(text: str) -> int | None:
    """``"P0007"``, ``"p7"`` or ``"7"`` → 7; empty → None; anything else raises StudyError."""
    text = text.strip().upper().removeprefix("P")
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise StudyError("the participant number looks like P0007")
    return int(text)


@transaction.atomic
def participant_withdraw(*, participant: Participant, actor: Any, reason: str) -> Withdrawal:
    """Delete the participant with all their trials, responses and events; audit it.

    Only the study's owner, an editing collaborator or an admin may do it (``StudyError``
    otherwise). The participant row is locked first, so that a response arriving at the same
    moment either lands before the deletion (and is deleted) or finds no session afterwards.
    """
    reason = reason.strip()
    if not reason:
        raise StudyError("give a reason for the withdrawal (e.g. the participant's request)")
    if len(reason) > 500:
        raise StudyError("the reason must be at most 500 characters")
    locked = (
        Participant.objects.select_for_update()
        .select_related("study")
        .filter(pk=participant.pk)
        .first()
    )
    if locked is None:
        raise ParticipantNotFound("this participant has already been deleted")
    study = locked.study
    if not can_edit(actor, study):
        raise StudyError("only the study's owner or an editor can delete participants' data")
    # sessions the same person restarted (resume policy "restart") are their data too
    earlier = list(
        Participant.objects.select_for_update()
        .filter(
            study=study,
            recruiter_hash=locked.recruiter_hash,
            state=Participant.State.RESTARTED,
        )
        .exclude(pk=locked.pk)
        .order_by("number")
        if locked.recruiter_hash
        else []
    )
    sessions = [locked, *earlier]
    counts = {
        "responses": Response.objects.filter(participant__in=sessions).count(),
        "trials": Trial.objects.filter(participant__in=sessions).count(),
        "events": Event.objects.filter(participant__in=sessions).count(),
    }
    number = locked.number
    audit = event_log(
        study=study,
        actor=actor,
        kind=WITHDRAWN,
        data={
            "number": number,
            "mode": locked.mode,
            "reason": reason,
            "restarted_sessions": [p.number for p in earlier],
            **counts,
        },
    )
    # cascades to trials, responses and the participants' own events
    Participant.objects.filter(pk__in=[p.pk for p in sessions]).delete()
    return Withdrawal(number=number, audit=audit, **counts)
