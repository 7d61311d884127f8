"""A participant's way through a study: arrival, assignment, pages, screen-out, completion."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from studies import flow as flow_config
from studies.configschema import ConfigError
from studies.errors import (
    AlreadyParticipated,
    InvalidAnswer,
    NotAccepting,
    StudyError,
    StudyFull,
    WrongPage,
)
from studies.models import Condition, Participant, Study, Trial
from studies.questions import DEMOGRAPHICS, clean_answers
from studies.recruitment import Arrival
from studies.selectors import participant_by_code
from studies.services.events import event_log
from studies.services.plan import plan_trials

State = Participant.State


def condition_assign(*, study: Study, mode: str) -> Condition:
    """The least-filled condition (ties: the first), among those under their quota.

    Counts completed participants and those started within the study's timeout; never previews,
    screened-out, timed-out or excluded ones (excluded by the researcher, by a declared rule at
    completion, or already past the declared attention-check limit while in progress). Call it
    with the study's row locked, in the transaction that creates the participant, so that
    concurrent arrivals see each other.
    """
    cutoff = timezone.now() - timedelta(minutes=int(study.flow["timeout_minutes"]))
    counted = Participant.objects.filter(study=study, mode=mode, condition__isnull=False).filter(
        Q(state=State.COMPLETED) | Q(state__in=Participant.ACTIVE_STATES, last_seen_at__gte=cutoff)
    )
    failures = study.flow.get("exclude_attention_failures")
    if failures:  # already excluded by a declared rule: their cell needs someone else
        # ... unless the researcher included them again (their decision overrides the rule)
        counted = counted.exclude(
            Q(attention_failures__gte=failures) & Q(included_by_researcher=False)
        )
    counts = dict(counted.values("condition").annotate(n=Count("id")).values_list("condition", "n"))
    conditions = list(study.conditions.order_by("position"))
    open_cells = [c for c in conditions if c.quota is None or counts.get(c.pk, 0) < c.quota]
    if not open_cells:
        raise StudyFull("this study has all the participants it needs; thank you for your interest")
    return min(open_cells, key=lambda c: (counts.get(c.pk, 0), c.position))


def _returning(study: Study, arrival: Arrival) -> Participant | None:
    """The participant with this recruiter id, or an error if they may not come back."""
    if not arrival.recruiter_hash:
        return None
    in_lineage = Participant.objects.filter(
        study__lineage=study.lineage, recruiter_hash=arrival.recruiter_hash
    ).exclude(mode=Participant.Mode.PREVIEW)
    if in_lineage.exclude(study=study).exists():
        raise AlreadyParticipated("you have already taken part in a version of this study")
    existing = in_lineage.filter(study=study).exclude(state=State.RESTARTED).first()
    if existing is None:
        return None
    policy = study.flow.get("resume_policy", "resume")
    if policy == "block":
        raise AlreadyParticipated("you have already started this study; it can be taken once")
    if policy == "restart" and existing.state in Participant.ACTIVE_STATES:
        existing.state = State.RESTARTED
        existing.ended_at = timezone.now()
        existing.save(update_fields=["state", "ended_at"])
        event_log(study=study, participant=existing, kind="participant.restarted")
        return None
    if policy == "restart":
        raise AlreadyParticipated("you have already taken part in this study")
    return existing


def participant_start(
    *,
    study: Study,
    arrival: Arrival,
    preview: bool = False,
    condition: Condition | None = None,
    actor: Any = None,
) -> tuple[Participant, bool]:
    """A new participant with a condition and a trial plan, or the returning one (``False``).

    Raises :class:`NotAccepting`, :class:`AlreadyParticipated` or :class:`StudyFull`.
    """
    try:
        participant, created = _start(
            study=study, arrival=arrival, preview=preview, condition=condition, actor=actor
        )
    except IntegrityError:
        # Two first arrivals with the same recruiter id at once: the other one won; resume it.
        participant, created = _start(
            study=study, arrival=arrival, preview=preview, condition=condition, actor=actor
        )
    return participant_plan_ensure(participant=participant), created


def participant_for_request(code: str) -> Participant:
    """The participant of a session code (404 if none), with their trial plan stored."""
    participant = participant_by_code(code)
    return participant if participant.planned else participant_plan_ensure(participant=participant)


@transaction.atomic
def participant_plan_ensure(*, participant: Participant) -> Participant:
    """Build and store the participant's trial plan, once.

    A new participant is committed under the study's row lock (assignment and numbering must see
    every other arrival); the plan, most of a start's work, is built afterwards under the
    participant's own lock, so that arrivals do not queue behind each other's plans. A start
    interrupted between the two (a killed worker, a lost connection) is completed here by the
    participant's next request.
    """
    if participant.planned:
        return participant
    locked = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("study", "condition")
        .get(pk=participant.pk)
    )
    if locked.planned:
        return locked
    if locked.condition is None:  # every start assigns one, in the transaction that creates it
        raise StudyError("this session has no condition; please open the study link again")
    trials = plan_trials(
        study=locked.study,
        participant=locked,
        condition=locked.condition,
        stimuli=list(locked.study.stimuli.order_by("position")),
    )
    Trial.objects.bulk_create(trials)
    locked.n_trials = len(trials)
    locked.n_practice = sum(t.kind == Trial.Kind.PRACTICE for t in trials)
    locked.planned = True
    locked.save(update_fields=["n_trials", "n_practice", "planned"])
    return locked


@transaction.atomic
def _start(
    *,
    study: Study,
    arrival: Arrival,
    preview: bool,
    condition: Condition | None,
    actor: Any,
) -> tuple[Participant, bool]:
    # FOR NO KEY UPDATE: arrivals queue behind each other, but the study's other participants
    # may still insert rows that reference the study (their FOR KEY SHARE checks do not wait)
    study = Study.objects.select_for_update(no_key=True).get(pk=study.pk)
    if preview:
        from studies.services.studies import study_stimuli_freeze

        if study.state == Study.State.CLOSED:
            raise NotAccepting("a closed study cannot be previewed")
        study_stimuli_freeze(study=study, actor=actor)
        mode = Participant.Mode.PREVIEW
    else:
        existing = _returning(study, arrival)
        if existing is not None:  # those who started may come back, even to a paused study
            event_log(study=study, participant=existing, kind="participant.resumed")
            return existing, False
        if not study.accepts_participants:
            raise NotAccepting(
                "this study is not open at the moment"
                if study.state != Study.State.CLOSED
                else "this study has closed; thank you for your interest"
            )
        mode = Participant.Mode.PILOT if study.state == Study.State.PILOT else Participant.Mode.LIVE
    if condition is None:
        condition = condition_assign(study=study, mode=mode)
    study.participant_counter += 1
    study.save(update_fields=["participant_counter"])
    participant = Participant.objects.create(
        study=study,
        number=study.participant_counter,
        condition=condition,
        seed=secrets.randbits(31),
        mode=mode,
        source=Participant.Source.PREVIEW if preview else arrival.source,
        recruiter_hash="" if preview else arrival.recruiter_hash,
        recruitment=dict(arrival.recruitment),
        planned=False,  # the plan is stored after this transaction: participant_plan_ensure
    )
    event_log(
        study=study,
        participant=participant,
        actor=actor,
        kind="participant.started",
        data={"mode": mode, "source": participant.source, "condition": condition.name},
    )
    return participant, True


def _require_page(participant: Participant, page: str) -> None:
    if participant.page != page:
        raise WrongPage(f"this is not the current page ({page})", next_page=participant.page)
    if participant.state not in Participant.ACTIVE_STATES:
        raise WrongPage("this session has ended", next_page=participant.page)


def _advance(participant: Participant, study: Study) -> None:
    participant.page = flow_config.next_page(study.flow, participant.page)
    if participant.page == "practice" and not participant.n_practice:
        participant.page = flow_config.next_page(study.flow, "practice")


def questions_for(study: Study, page: str) -> list[dict[str, Any]]:
    if page == "demographics":
        return DEMOGRAPHICS
    if page == "questionnaire":
        return list(study.flow.get("questionnaire") or [])
    if page == "comprehension":
        return flow_config.comprehension_questions(study.flow)
    return []


def session_abandoned(participant: Participant, now: Any = None) -> bool:
    """Whether an active session has been idle for longer than the study's timeout."""
    now = now or timezone.now()
    timeout = timedelta(minutes=int(participant.study.flow.get("timeout_minutes") or 60))
    return participant.state in Participant.ACTIVE_STATES and now - participant.last_seen_at > (
        timeout
    )


def session_expired_error(participant: Participant) -> WrongPage:
    """What the participant is told when an answer arrives after their session timed out."""
    minutes = int(participant.study.flow.get("timeout_minutes") or 60)
    return WrongPage(
        f"Your session has expired: it was inactive for more than {minutes} minutes, so this "
        "answer was not saved and the study cannot be continued.",
        next_page="expired",
    )


def session_expire(locked: Participant) -> None:
    """Time out an abandoned session (the participant's row locked)."""
    locked.state = State.TIMED_OUT
    locked.page = "expired"
    locked.ended_at = timezone.now()
    locked.save(update_fields=["state", "page", "ended_at"])
    event_log(study=locked.study, participant=locked, kind="participant.timed_out")


def participant_page_submit(
    *, participant: Participant, page: str, data: Mapping[str, Any]
) -> Participant:
    """Submit a non-trial page (consent, demographics, instructions, questionnaire, debrief).

    Raises :class:`WrongPage` when ``page`` is not the current one and :class:`InvalidAnswer`
    with a message per question when answers are invalid (nothing is stored then). A session
    idle for longer than the study's timeout (an open tab left behind: its cell may have gone to
    someone else) is timed out first and the answer refused with :func:`session_expired_error`.
    """
    submitted = _page_submit(participant=participant, page=page, data=data)
    if submitted is None:  # timed out (committed), then refused
        participant.state, participant.page = State.TIMED_OUT, "expired"
        raise session_expired_error(participant)
    return submitted


@transaction.atomic
def _page_submit(
    *, participant: Participant, page: str, data: Mapping[str, Any]
) -> Participant | None:
    """The page submitted, or ``None`` when the session was abandoned and is now timed out."""
    participant = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("study")
        .get(pk=participant.pk)
    )
    study = participant.study
    if session_abandoned(participant):
        session_expire(participant)
        return None
    _require_page(participant, page)
    now = timezone.now()
    if page == "consent":
        agree = data.get("agree")
        if agree in (False, "false", "no", "0"):
            return participant_screen_out(participant=participant, reason="declined consent")
        if agree not in (True, "true", "yes", "1", "on"):
            raise InvalidAnswer("please say whether you agree to take part")
        participant.state = State.IN_PROGRESS
        participant.consented_at = now
        event_log(study=study, participant=participant, kind="consent.given")
    elif page in ("demographics", "questionnaire"):
        try:
            answers = clean_answers(questions_for(study, page), data)
        except ConfigError as error:
            raise InvalidAnswer("please check your answers", errors=error.errors) from None
        setattr(participant, page, answers)
        event_log(study=study, participant=participant, kind=f"{page}.saved")
    elif page == "comprehension":
        try:
            answers = clean_answers(questions_for(study, page), data)
        except ConfigError as error:
            raise InvalidAnswer("please answer every question", errors=error.errors) from None
        if not flow_config.comprehension_passed(study.flow, answers):
            return _comprehension_failed(participant, answers, now)
        event_log(study=study, participant=participant, kind="comprehension.passed")
    elif page in ("instructions", "debrief"):
        event_log(study=study, participant=participant, kind=f"{page}.read")
    else:
        raise WrongPage(f"the {page} page is answered trial by trial", next_page=participant.page)
    _advance(participant, study)
    if participant.page == "complete":
        participant.state = State.COMPLETED
        participant.completed_at = participant.ended_at = now
        event_log(study=study, participant=participant, kind="participant.completed")
    participant.last_seen_at = now
    participant.save()
    if participant.state == State.COMPLETED:
        from studies.exclusions import participant_rules_apply

        participant = participant_rules_apply(participant=participant)
    return participant


def _comprehension_failed(
    participant: Participant, answers: Mapping[str, Any], now: Any
) -> Participant:
    """Back to the instructions for another attempt, or screened out after the last one.

    Attempts are counted from the event log (``comprehension.failed``), the provenance record.
    """
    study = participant.study
    failed = participant.events.filter(kind="comprehension.failed").count() + 1
    event_log(
        study=study,
        participant=participant,
        kind="comprehension.failed",
        data={"attempt": failed, "answers": dict(answers)},
    )
    if failed >= int(study.flow.get("comprehension_attempts") or 1):
        return participant_screen_out(participant=participant, reason="failed comprehension check")
    participant.page = "instructions"
    participant.last_seen_at = now
    participant.save()
    return participant


def participant_screen_out(*, participant: Participant, reason: str) -> Participant:
    """End the session early (declined consent, failed checks); call inside a transaction."""
    participant.state = State.SCREENED_OUT
    participant.page = "screened_out"
    participant.exclusion_reason = reason
    participant.ended_at = timezone.now()
    participant.save()
    event_log(
        study=participant.study,
        participant=participant,
        kind="participant.screened_out",
        data={"reason": reason},
    )
    return participant


@transaction.atomic
def participant_exclude(
    *, participant: Participant, actor: Any, reason: str, excluded: bool = True
) -> Participant:
    """A researcher's exclusion, or its reversal ("include again"); the reason is exported.

    Including again stores an override (``included_by_researcher``): the declared exclusion
    rules no longer apply to the participant, in the export, the monitor and the assignment,
    whichever rule excluded them. Excluding again clears it. Both are logged as events
    (``participant.excluded`` / ``participant.included``, with the rule-based reasons overridden).
    """
    participant = Participant.objects.select_for_update().get(pk=participant.pk)
    reason = reason.strip()
    if excluded and not reason:
        raise StudyError("give a reason for the exclusion")
    overridden = "" if excluded else participant.exclusion_reason
    if excluded:
        participant.state = State.EXCLUDED
        participant.exclusion_reason = reason
        participant.included_by_researcher = False
    else:
        if participant.state == State.EXCLUDED:
            participant.state = State.COMPLETED if participant.completed_at else State.IN_PROGRESS
            participant.exclusion_reason = ""
        participant.included_by_researcher = True
    participant.save()
    data: dict[str, Any] = {"reason": reason}
    if not excluded:
        data.update(override=True, overridden=overridden)
    event_log(
        study=participant.study,
        participant=participant,
        actor=actor,
        kind="participant.excluded" if excluded else "participant.included",
        data=data,
    )
    return participant


@transaction.atomic
def participant_time_out(*, participant: Participant) -> Participant:
    """End one abandoned session (if it is still active once locked)."""
    locked = (
        Participant.objects.select_for_update(of=("self",))
        .select_related("study")
        .get(pk=participant.pk)
    )
    if locked.state in Participant.ACTIVE_STATES:
        session_expire(locked)
    participant.state, participant.page = locked.state, locked.page
    return participant


@transaction.atomic
def participants_time_out(*, study: Study) -> int:
    """Mark sessions idle for longer than the study's timeout as timed out; their number."""
    cutoff = timezone.now() - timedelta(minutes=int(study.flow["timeout_minutes"]))
    stale = list(
        study.participants.select_for_update().filter(
            state__in=Participant.ACTIVE_STATES, last_seen_at__lt=cutoff
        )
    )
    now = timezone.now()
    for participant in stale:
        participant.state = State.TIMED_OUT
        participant.page = "expired"
        participant.ended_at = now
        participant.save(update_fields=["state", "page", "ended_at"])
        event_log(study=study, participant=participant, kind="participant.timed_out")
    return len(stale)


def participant_touch(*, participant: Participant) -> None:
    """Record that the participant is still there (at most every 30 seconds: one cheap update).

    A session idle for longer than the study's timeout was abandoned: it is timed out now (its
    cell may already have been given to someone else) and the participant sees the expiry page.
    """
    now = timezone.now()
    if session_abandoned(participant, now):
        participant_time_out(participant=participant)
        return
    if now - participant.last_seen_at > timedelta(seconds=30):
        Participant.objects.filter(pk=participant.pk).update(last_seen_at=now)
        participant.last_seen_at = now


def trial_show(*, participant: Participant, trial: Trial) -> None:
    """Stamp the first time a trial is shown (the server side of the response time)."""
    if trial.shown_at is None:  # shown before: no transaction, no query
        _trial_first_show(participant, trial)


@transaction.atomic
def _trial_first_show(participant: Participant, trial: Trial) -> None:
    now = timezone.now()
    if Trial.objects.filter(pk=trial.pk, shown_at__isnull=True).update(shown_at=now):
        trial.shown_at = now
        Participant.objects.filter(pk=participant.pk).update(last_seen_at=now)
        event_log(
            study=participant.study,
            participant=participant,
            kind="trial.shown",
            data={"index": trial.index},
        )


IMAGE_FAILURE_KIND = "trial.image_failed"
# A page that keeps failing (or a client that keeps posting) must not flood the event log.
IMAGE_FAILURES_LOGGED = 20


@transaction.atomic
def trial_image_failed(*, participant: Participant, trial_index: int) -> bool:
    """Record that the current trial's pictures did not load in the participant's browser, even
    after its retries: the trial could not be answered there (the page keeps its answers
    disabled and offers to try again). The event holds the trial's index only. Raises
    :class:`WrongPage` for any trial but the current one; at most :data:`IMAGE_FAILURES_LOGGED`
    such events per participant (``False``: this one was not logged)."""
    if participant.page not in ("practice", "trials") or participant.state not in (
        Participant.ACTIVE_STATES
    ):
        raise WrongPage("there is no trial to report on now", next_page=participant.page)
    if trial_index != participant.n_answered:
        raise WrongPage("this is not the current trial", next_page=participant.page)
    logged = participant.events.filter(kind=IMAGE_FAILURE_KIND).count()
    if logged >= IMAGE_FAILURES_LOGGED:
        return False
    event_log(
        study=participant.study,
        participant=participant,
        kind=IMAGE_FAILURE_KIND,
        data={"index": trial_index},
    )
    return True
