"""Saving a trial's response: once per idempotency key, only for the current trial.

With the flow's ``practice_feedback`` on (protocols with ``supports_practice_feedback``), a
stored practice answer moves the participant to the ``feedback`` page: the server tells them
whether the answer was right (computed from the stored response, so a reload shows the same
feedback) and they acknowledge it (:func:`feedback_continue`) before the next page.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from studies.errors import InvalidAnswer, WrongPage
from studies.models import Participant, Response, Study, Trial
from studies.protocols import ResponseError, get_protocol
from studies.services.events import event_log
from studies.services.participants import (
    participant_screen_out,
    session_abandoned,
    session_expire,
    session_expired_error,
)

_KEY = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")
MAX_RT_MS = 24 * 3600 * 1000.0
FEEDBACK_PAGE = "feedback"


@dataclass(frozen=True)
class Submitted:
    response: Response
    created: bool  # False: the same key was submitted before; nothing new was stored
    participant: Participant


def _rt(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        rt = float(value)
    except (TypeError, ValueError):
        raise InvalidAnswer("rt_ms must be a number of milliseconds") from None
    if not math.isfinite(rt) or not 0 <= rt <= MAX_RT_MS:
        raise InvalidAnswer("rt_ms must be between 0 and 86400000")
    return rt


def response_submit(
    *,
    participant: Participant,
    trial_index: int,
    value: Any,
    idempotency_key: str,
    rt_ms: Any = None,
) -> Submitted:
    """Validate and store the answer to the participant's current trial.

    A second submission with the same ``idempotency_key`` (a double click, a retried request)
    returns the stored response and changes nothing. Raises :class:`InvalidAnswer` (nothing
    stored) or :class:`WrongPage` (not the current trial; ``next_page`` says where to go). A
    session idle for longer than the study's timeout (an open tab left behind: its cell may have
    gone to someone else) is timed out first and the answer refused with a message saying so.
    """
    try:
        submitted = _submit(
            participant=participant,
            trial_index=trial_index,
            value=value,
            idempotency_key=idempotency_key,
            rt_ms=rt_ms,
        )
    except IntegrityError:  # response_unique_key: a key of an earlier trial sent for this one
        raise InvalidAnswer("this idempotency_key was already used for another trial") from None
    if submitted is None:  # timed out (committed), then refused
        participant.state, participant.page = Participant.State.TIMED_OUT, "expired"
        raise session_expired_error(participant)
    return submitted


@transaction.atomic
def _submit(
    *,
    participant: Participant,
    trial_index: int,
    value: Any,
    idempotency_key: str,
    rt_ms: Any,
) -> Submitted | None:
    """The answer stored, or ``None`` when the session was abandoned and is now timed out."""
    if not isinstance(idempotency_key, str) or not _KEY.match(idempotency_key):
        raise InvalidAnswer("idempotency_key must be 8–64 letters, digits, '-' or '_'")
    participant = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("study")
        .get(pk=participant.pk)
    )
    study = participant.study
    if trial_index != participant.n_answered:  # a retry of a stored answer, or a wrong trial
        stored = Response.objects.filter(participant=participant, idempotency_key=idempotency_key)
        previous = stored.select_related("trial").first()
        if previous is not None:
            if previous.trial.index != trial_index:
                raise InvalidAnswer("this idempotency_key was already used for another trial")
            return Submitted(previous, False, participant)
    # else no answer to this trial is stored (it would have moved n_answered on, under this
    # lock), and a key already used for an earlier trial fails the insert (response_unique_key)
    if session_abandoned(participant):
        session_expire(participant)
        return None
    if participant.page not in ("practice", "trials") or participant.state not in (
        Participant.ACTIVE_STATES
    ):
        raise WrongPage("there is no trial to answer now", next_page=participant.page)
    if trial_index != participant.n_answered:
        raise WrongPage(
            "this trial was already answered"
            if trial_index < participant.n_answered
            else "this is not the current trial",
            next_page=participant.page,
        )
    trial = Trial.objects.get(participant=participant, index=trial_index)
    plugin = get_protocol(study.protocol)
    try:
        clean = plugin.validate_response(study.configuration, shown=trial.shown, value=value)
    except ResponseError as error:
        raise InvalidAnswer(str(error)) from None
    client_rt = _rt(rt_ms)
    now = timezone.now()
    if trial.kind == Trial.Kind.ATTENTION:
        scored: dict[str, Any] = {
            "passed": plugin.attention_passed(hidden=trial.hidden, value=clean)
        }
    else:
        scored = plugin.score(study.configuration, hidden=trial.hidden, value=clean)
    response = Response.objects.create(
        participant=participant,
        trial=trial,
        value=clean,
        scored=scored,
        rt_ms=client_rt,
        server_rt_ms=(now - trial.shown_at).total_seconds() * 1000 if trial.shown_at else None,
        idempotency_key=idempotency_key,
        mode=participant.mode,
    )
    trial.answered_at = now
    trial.save(update_fields=["answered_at"])
    event_log(
        study=study,
        participant=participant,
        kind="response.saved",
        data={"index": trial.index, "kind": trial.kind},
    )
    participant.n_answered += 1
    participant.last_seen_at = now
    if trial.kind == Trial.Kind.ATTENTION and not scored["passed"]:
        participant.attention_failures += 1
        event_log(
            study=study,
            participant=participant,
            kind="attention.failed",
            data={"index": trial.index, "failures": participant.attention_failures},
        )
        limit = study.flow.get("screen_out_after_failures")
        if limit and participant.attention_failures >= limit:
            participant.save()
            participant_screen_out(participant=participant, reason="failed attention checks")
            return Submitted(response, True, participant)
    if trial.kind == Trial.Kind.PRACTICE and practice_feedback_on(study):
        participant.page = FEEDBACK_PAGE  # feedback first; then _after_practice
    else:
        _after_trial(participant)
    participant.save(update_fields=["n_answered", "last_seen_at", "attention_failures", "page"])
    return Submitted(response, True, participant)


def _after_practice(participant: Participant) -> str:
    from studies.flow import next_page

    if participant.n_answered >= participant.n_practice:
        return next_page(participant.study.flow, "practice")
    return "practice"


def _after_trial(participant: Participant) -> None:
    from studies.flow import next_page

    if participant.page == "practice":
        participant.page = _after_practice(participant)
    elif participant.page == "trials" and participant.n_answered >= participant.n_trials:
        participant.page = next_page(participant.study.flow, "trials")


# --- feedback after practice answers ------------------------------------------------------------
def practice_feedback_on(study: Study) -> bool:
    """Whether stored practice answers are followed by feedback (the flow option; studies made
    before the option existed have no such key: off)."""
    return bool(study.flow.get("practice_feedback")) and (
        get_protocol(study.protocol).supports_practice_feedback
    )


def response_feedback(study: Study, response: Response) -> dict[str, Any] | None:
    """The feedback on a STORED response (``None``: not a practice answer, or feedback is off).

    ``{"trial": index, "correct": true|false|null, "title": verdict, "detail": right answer,
    "message": both in one line}`` (see :class:`~studies.protocols.base.PracticeFeedback`); it may
    reveal the practice item's right answer, so it is only ever built from a response already
    stored.
    """
    trial = response.trial
    if trial.kind != Trial.Kind.PRACTICE or not practice_feedback_on(study):
        return None
    feedback = get_protocol(study.protocol).practice_feedback(
        study.configuration, hidden=trial.hidden, scored=response.scored
    )
    return {
        "trial": trial.index,
        "correct": feedback.correct,
        "title": feedback.title,
        "detail": feedback.detail,
        "message": feedback.message,
    }


def current_feedback(participant: Participant) -> dict[str, Any] | None:
    """The feedback page's content: the feedback on the last stored answer, only while the
    participant is on the feedback page (``None`` elsewhere)."""
    if participant.page != FEEDBACK_PAGE or not participant.n_answered:
        return None
    response = (
        Response.objects.select_related("trial")
        .filter(participant=participant, trial__index=participant.n_answered - 1)
        .first()
    )
    return None if response is None else response_feedback(participant.study, response)


def feedback_continue(*, participant: Participant) -> Participant:
    """The participant has read the feedback: on to the next practice trial, or the page after
    practice. Raises :class:`WrongPage` when the participant is not on the feedback page (a
    second Continue from another tab changes nothing) and times out an abandoned session like
    :func:`response_submit`."""
    done = _feedback_continue(participant)
    if done is None:  # timed out (committed), then refused
        participant.state, participant.page = Participant.State.TIMED_OUT, "expired"
        raise session_expired_error(participant)
    return done


@transaction.atomic
def _feedback_continue(participant: Participant) -> Participant | None:
    participant = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("study")
        .get(pk=participant.pk)
    )
    if session_abandoned(participant):
        session_expire(participant)
        return None
    if participant.page != FEEDBACK_PAGE or participant.state not in Participant.ACTIVE_STATES:
        raise WrongPage("there is no feedback to read now", next_page=participant.page)
    participant.page = _after_practice(participant)
    participant.last_seen_at = timezone.now()
    participant.save(update_fields=["page", "last_seen_at"])
    event_log(
        study=participant.study,
        participant=participant,
        kind="feedback.read",
        data={"index": participant.n_answered - 1},
    )
    return participant
