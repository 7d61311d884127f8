"""Designing a study: create, edit, freeze stimuli, life cycle, versions, collaborators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from explainers.models import Classifier, ImageSet, PrecomputeJob
from studies import flow as flow_config
from studies import presentations
from studies.configschema import ConfigError
from studies.errors import DesignLocked, InvalidTransition, StimuliMissing, StudyError
from studies.models import Collaborator, Condition, Participant, Response, Stimulus, Study
from studies.protocols import ConditionSpec, Protocol, get_protocol
from studies.selectors import precompute_job_in_progress
from studies.services.events import event_log
from studies.stimuli import check_study_stimuli, validate_selection


@dataclass(frozen=True)
class Design:
    """A validated design: everything that cannot change once a study has real responses."""

    protocol: str
    configuration: dict[str, Any]
    flow: dict[str, Any]
    stimuli: dict[str, Any]
    classifier: Classifier
    image_set: ImageSet


def design_validate(
    *,
    protocol: str,
    configuration: Any,
    flow: Any,
    stimuli: Any,
    classifier: Classifier | None,
    image_set: ImageSet | None,
    user: Any,
) -> Design:
    """Check every part; :class:`ConfigError` lists all problems, keyed like ``flow.x``."""
    errors: dict[str, list[str]] = {}
    plugin = get_protocol(protocol)
    selection: dict[str, Any] = {}
    try:
        selection = validate_selection(stimuli, protocol=plugin)
    except ConfigError as error:
        errors.update(error.prefixed("stimuli").errors)
    config: dict[str, Any] = {}
    try:
        config = plugin.validate_config(configuration, methods=selection.get("methods", []))
    except ConfigError as error:
        for key, messages in error.errors.items():
            target = "stimuli.methods" if key == "methods" else f"configuration.{key}"
            errors.setdefault(target, []).extend(messages)
    clean_flow: dict[str, Any] = {}
    try:
        clean_flow = flow_config.validate_flow(flow)
    except ConfigError as error:
        errors.update(error.prefixed("flow").errors)
    if clean_flow.get("exclude_straightlining") and not plugin.defines_straightlining:
        errors.setdefault("flow.exclude_straightlining", []).append(
            f"the straight-lining exclusion rule is not defined for the {plugin.name} protocol "
            "(there is no single answer whose repetition means inattention): switch it off"
        )
    errors.update(_practice_feedback_problems(clean_flow, plugin))
    if classifier is None or not Classifier.objects.visible_to(user).filter(pk=classifier.pk):
        errors["classifier"] = ["choose a classifier you have access to"]
    if image_set is None or not ImageSet.objects.visible_to(user).filter(pk=image_set.pk):
        errors["image_set"] = ["choose an image set you have access to"]
    if errors:
        raise ConfigError(errors)
    assert classifier is not None and image_set is not None
    return Design(protocol, config, clean_flow, selection, classifier, image_set)


def _practice_feedback_problems(flow: dict[str, Any], plugin: Protocol) -> dict[str, list[str]]:
    """Feedback after practice needs practice trials, and practice answers with a right answer."""
    if not flow.get("practice_feedback"):
        return {}
    problems = []
    if not plugin.supports_practice_feedback:
        problems.append(
            f"practice_feedback is not available for the {plugin.name} protocol: its practice "
            "answers have no right answer to give feedback on (it is available for simulation "
            "and gt_prediction): switch it off"
        )
    if not flow.get("practice_trials"):
        problems.append("practice_feedback needs practice trials: set practice_trials to 1 or more")
    return {"flow.practice_feedback": problems} if problems else {}


def _check_title(title: str) -> str:
    title = (title or "").strip()
    if not title or len(title) > 200:
        raise ConfigError({"title": ["give the study a title of at most 200 characters"]})
    return title


def _sync_conditions(study: Study) -> None:
    plugin = get_protocol(study.protocol)
    specs = plugin.conditions(study.configuration, methods=study.stimuli_selection["methods"])
    if presentations.is_factor(study.stimuli_selection):
        # presentation as a between-subjects factor: every protocol cell once per presentation
        specs = [
            ConditionSpec(
                name if spec.name == "all" else f"{spec.name} / {name}",
                {**spec.factors, presentations.FACTOR: name},
            )
            for spec in specs
            for name, _ in presentations.study_presentations(study.stimuli_selection)
        ]
    study.conditions.all().delete()
    Condition.objects.bulk_create(
        Condition(
            study=study,
            name=spec.name,
            factors=dict(spec.factors),
            position=k,
            quota=study.flow.get("quota_per_condition"),
        )
        for k, spec in enumerate(specs)
    )


@transaction.atomic
def study_create(
    *,
    owner: Any,
    title: str,
    design: Design,
    description: str = "",
    previous_version: Study | None = None,
) -> Study:
    study = Study.objects.create(
        owner=owner,
        title=_check_title(title),
        description=description or "",
        protocol=design.protocol,
        configuration=design.configuration,
        flow=design.flow,
        stimuli_selection=design.stimuli,
        classifier=design.classifier,
        image_set=design.image_set,
    )
    if previous_version is not None:
        study.lineage = previous_version.lineage
        study.version = (
            max(Study.objects.filter(lineage=study.lineage).values_list("version", flat=True)) + 1
        )
        study.previous_version = previous_version
        study.save(update_fields=["lineage", "version", "previous_version"])
    _sync_conditions(study)
    study_renders_request(study=study)
    event_log(
        study=study,
        kind="study.created",
        actor=owner,
        data={"protocol": study.protocol, "version": study.version},
    )
    # The maps the design needs and nobody computes yet are started now, not at launch: the
    # researcher sees the job on the draft's page instead of a refusal later.
    study_precompute_start(study=study, actor=owner)
    return study


def has_real_responses(study: Study) -> bool:
    return Response.objects.filter(participant__study=study).exclude(mode="preview").exists()


def _discard_previews_and_stimuli(study: Study) -> None:
    study.participants.filter(mode=Participant.Mode.PREVIEW).delete()
    study.stimuli.all().delete()
    study.stimuli_frozen_at = None


@transaction.atomic
def study_update(
    *,
    study: Study,
    actor: Any,
    title: str | None = None,
    description: str | None = None,
    design: Design | None = None,
) -> Study:
    """Change the title/description any time; the design only while a draft without real data."""
    study = Study.objects.select_for_update().get(pk=study.pk)
    changed: list[str] = []
    if title is not None and title != study.title:
        study.title = _check_title(title)
        changed.append("title")
    if description is not None and description != study.description:
        study.description = description
        changed.append("description")
    if design is not None:
        if study.state != Study.State.DRAFT or has_real_responses(study):
            raise DesignLocked(
                "this study has left the draft state or has responses: its design cannot "
                "change; copy it as a new version instead"
            )
        _discard_previews_and_stimuli(study)
        study.protocol = design.protocol
        study.configuration = design.configuration
        study.flow = design.flow
        study.stimuli_selection = design.stimuli
        study.classifier = design.classifier
        study.image_set = design.image_set
        changed.append("design")
    study.save()
    if design is not None:
        _sync_conditions(study)
        study_renders_request(study=study)
    if changed:
        event_log(study=study, kind="study.updated", actor=actor, data={"changed": changed})
    return study


@transaction.atomic
def study_stimuli_freeze(*, study: Study, actor: Any = None) -> int:
    """Resolve the stimuli against the precomputed maps and store them; their count.

    Raises :class:`StimuliMissing` naming what is not precomputed (nothing stored then).
    """
    if study.stimuli_frozen_at is not None and study.stimuli.exists():
        return study.stimuli.count()
    plugin = get_protocol(study.protocol)
    check = check_study_stimuli(study)
    if not check.ok:
        raise StimuliMissing("; ".join(check.messages()))
    Stimulus.objects.bulk_create(
        Stimulus(study=study, position=k, item_id=d["item_id"], image_id=d["image_pk"], data=d)
        for k, d in enumerate(
            plugin.prepare_stimulus(study.configuration, item) for item in check.items
        )
    )
    study.stimuli_frozen_at = timezone.now()
    study.save(update_fields=["stimuli_frozen_at", "updated_at"])
    event_log(study=study, kind="stimuli.frozen", actor=actor, data={"n": len(check.items)})
    return len(check.items)


TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "pilot": (("draft",), "pilot"),
    "launch": (("draft", "pilot", "paused"), "live"),
    "pause": (("pilot", "live"), "paused"),
    "close": (("pilot", "live", "paused"), "closed"),
    "draft": (("pilot",), "draft"),
}


def study_transition(*, study: Study, actor: Any, action: str) -> Study:
    """Move through draft → pilot → live → paused → closed (see :data:`TRANSITIONS`).

    Opening a study whose stimuli are not all rendered is refused (:class:`StimuliMissing`),
    and the missing renders are requested then, so that the refusal is also the start.
    """
    try:
        return _transition(study=study, actor=actor, action=action)
    except StimuliMissing:
        with transaction.atomic():
            study_renders_request(study=study)
        raise


@transaction.atomic
def _transition(*, study: Study, actor: Any, action: str) -> Study:
    if action not in TRANSITIONS:
        raise InvalidTransition(f"unknown action {action!r} (known: {', '.join(TRANSITIONS)})")
    study = Study.objects.select_for_update().get(pk=study.pk)
    sources, target = TRANSITIONS[action]
    if study.state not in sources:
        raise InvalidTransition(f"a {study.state} study cannot {action}")
    if action == "draft" and study.participants.exclude(mode=Participant.Mode.PREVIEW).exists():
        raise InvalidTransition(
            "the pilot has participants: copy the study as a new version to change its design"
        )
    if target in ("pilot", "live"):
        study_stimuli_freeze(study=study, actor=actor)
    previous = study.state
    study.state = target
    now = timezone.now()
    first_launch = target == "live" and study.launched_at is None
    if first_launch:
        study.launched_at = now
    if target == "closed":
        study.closed_at = now
    study.save()
    if first_launch:  # after the stimuli are frozen, so that the document names the images
        from studies.services.preregistration import preregistration_freeze

        study = preregistration_freeze(study=study, actor=actor)
    event_log(
        study=study,
        kind="study.state_changed",
        actor=actor,
        data={"from": previous, "to": target, "action": action},
    )
    return study


@transaction.atomic
def study_copy_as_version(*, study: Study, actor: Any) -> Study:
    """A new draft with the same design, the next version number in the same lineage."""
    design = Design(
        study.protocol,
        study.configuration,
        study.flow,
        study.stimuli_selection,
        study.classifier,
        study.image_set,
    )
    copy = study_create(
        owner=actor,
        title=study.title,
        description=study.description,
        design=design,
        previous_version=study,
    )
    for collaborator in study.collaborators.all():
        Collaborator.objects.get_or_create(
            study=copy, user=collaborator.user, defaults={"role": collaborator.role}
        )
    if study.owner_id != actor.pk:
        Collaborator.objects.get_or_create(
            study=copy, user=study.owner, defaults={"role": Collaborator.Role.EDIT}
        )
    event_log(study=study, kind="study.copied", actor=actor, data={"to": str(copy.uid)})
    return copy


@transaction.atomic
def collaborator_set(*, study: Study, actor: Any, user: Any, role: str | None) -> None:
    """Add, change (``role``) or remove (``role=None``) a collaborator; owner only."""
    if actor.pk != study.owner_id and not actor.is_superuser:
        raise StudyError("only the study's owner can change its collaborators")
    if user.pk == study.owner_id:
        raise StudyError("the owner is not a collaborator")
    if role is None:
        study.collaborators.filter(user=user).delete()
    elif role in Collaborator.Role.values:
        Collaborator.objects.update_or_create(study=study, user=user, defaults={"role": role})
    else:
        raise StudyError(f"role must be one of {', '.join(Collaborator.Role.values)}")
    event_log(
        study=study,
        kind="study.collaborator",
        actor=actor,
        data={"user": user.get_username(), "role": role},
    )


def study_precompute_start(*, study: Study, actor: Any) -> PrecomputeJob | None:
    """Start the precompute work the study's design still lacks, unless a job does it already.

    Returns the job that computes the missing maps (new or in progress), or ``None`` when
    nothing is missing or no job can compute it (the draft's page and launch say why).
    """
    try:
        return study_precompute_missing(study=study, actor=actor)
    except StudyError:
        return None


def study_precompute_missing(*, study: Study, actor: Any) -> PrecomputeJob:
    """Start a precompute job for the maps and predictions the study still lacks; a job in
    progress that computes them all is returned instead of a second one."""
    from explainers.services.precompute import JobError, precompute_job_create

    check = check_study_stimuli(study)
    if not check.missing_maps and not check.missing_predictions:
        if check.n_renders_missing:
            study_renders_request(study=study)
            raise StudyError(
                "every map is precomputed; the missing stimulus images are being rendered now"
            )
        raise StudyError("nothing is missing: every map this study needs is precomputed")
    methods = check.missing_methods or list(study.stimuli_selection["methods"])
    running = precompute_job_in_progress(
        study=study, methods=methods, targets=check.missing_targets
    )
    if running is not None:
        return running
    try:
        job = precompute_job_create(
            classifier=study.classifier,
            image_set=study.image_set,
            methods=methods,
            targets=check.missing_targets,
            owner=actor,
            presentations=[
                p.to_dict() for _, p in presentations.study_presentations(study.stimuli_selection)
            ],
        )
    except JobError as error:
        raise StudyError(str(error)) from None
    with transaction.atomic():
        event_log(
            study=study,
            kind="stimuli.precompute_requested",
            actor=actor,
            data={"job": str(job.uid), "methods": methods, "targets": check.missing_targets},
        )
    return job


def _renders_missing(study: Study) -> list[tuple[Any, list[int]]]:
    """``(presentation, map ids)`` of the study's stimuli that have no render yet."""
    if study.stimuli_frozen_at is not None:
        return []
    check = check_study_stimuli(study)
    entries = dict(presentations.study_presentations(study.stimuli_selection))
    return [(entries[name], ids) for name, ids in check.renders_missing.items() if ids]


def study_renders_request(*, study: Study) -> int:
    """Queue the CPU renders of the study's stimuli that are missing (maps already computed);
    how many are missing. Idempotent: a render is made once whatever the number of requests."""
    from explainers.services.render_requests import map_renders_request

    return sum(
        map_renders_request(map_ids=ids, presentations=[presentation])
        for presentation, ids in _renders_missing(study)
    )


def study_renders_make(*, study: Study) -> int:
    """Render the study's missing stimuli now, in this process (the demo's seeding, which opens
    its studies at once); how many were made."""
    from explainers.services.rendering import map_renders_create

    return sum(
        map_renders_create(map_ids=ids, presentation=presentation.to_dict())
        for presentation, ids in _renders_missing(study)
    )
