"""A participant's trial plan: practice, main trials and attention checks, from the seed."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from studies import presentations
from studies.models import Condition, Participant, Stimulus, Study, Trial
from studies.protocols import ConditionSpec, PlanContext, StimulusItem, get_protocol
from studies.protocols.design import insert_positions


def _tokens_in(value: Any, assets: Mapping[str, str], found: dict[str, str]) -> None:
    if isinstance(value, str):
        if value in assets:
            found[value] = assets[value]
    elif isinstance(value, Mapping):
        for item in value.values():
            _tokens_in(item, assets, found)
    elif isinstance(value, list | tuple):
        for item in value:
            _tokens_in(item, assets, found)


def _presentation(study: Study, condition: Condition) -> str | None:
    """The presentation the participant's condition shows (a factor level), else the first."""
    level = (condition.factors or {}).get(presentations.FACTOR)
    if level is not None:
        return str(level)
    return presentations.study_presentations(study.stimuli_selection)[0][0]


def plan_trials(
    *,
    study: Study,
    participant: Participant,
    condition: Condition,
    stimuli: Sequence[Stimulus],
) -> list[Trial]:
    """The participant's trials (unsaved). The same seed always gives the same plan."""
    plugin = get_protocol(study.protocol)
    rng = random.Random(participant.seed)
    shown_as = _presentation(study, condition)
    ctx = PlanContext(
        config=study.configuration,
        methods=list(study.stimuli_selection["methods"]),
        stimuli=[StimulusItem.from_data(s.pk, s.item_id, s.data, shown_as) for s in stimuli],
        condition=ConditionSpec(condition.name, condition.factors),
        rng=rng,
        participant_code=participant.code,
        max_trials=study.flow.get("max_trials"),
    )
    practice = plugin.practice(ctx, int(study.flow.get("practice_trials") or 0))
    sequence = plugin.plan(ctx)
    for position in insert_positions(len(sequence), int(study.flow["attention_checks"]), rng):
        sequence.insert(position, plugin.attention_check(ctx))
    entries = dict(presentations.study_presentations(study.stimuli_selection))
    legend = presentations.legend(entries.get(shown_as or "", next(iter(entries.values()))))
    trials = []
    for index, planned in enumerate([*practice, *sequence]):
        if planned.stimulus is not None:
            planned.shown["legend"] = legend
        assets: dict[str, str] = {}
        _tokens_in(planned.shown, ctx.assets, assets)
        trials.append(
            Trial(
                participant=participant,
                index=index,
                kind=planned.kind,
                stimulus_id=planned.stimulus.pk if planned.stimulus else None,
                item_id=planned.stimulus.item_id if planned.stimulus else "",
                shown=planned.shown,
                hidden=planned.hidden,
                assets=assets,
            )
        )
    return trials
