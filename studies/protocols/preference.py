"""Preference between methods (Jeyakumar et al. 2020; "which map best highlights the object").

One image with the maps of two methods side by side (2-AFC) or of ``k`` methods (k-way choice),
same class (the predicted one), same rendering. The participant picks one; an optional yes/no
validation question comes first, as in Jeyakumar et al.

Design: every set of ``k`` methods (every pair for 2-AFC) is rotated over the images; the rotation
offsets are the between-subject conditions, so the balanced assignment balances sets over images
and participants, and each participant sees each set a balanced number of times. Display
positions are balanced within a participant for each pair (randomised for k > 2) and recorded.
"""

from __future__ import annotations

import itertools
import math
import random
import string
from collections.abc import Mapping, Sequence
from typing import Any

from studies.configschema import Option, Schema
from studies.protocols._shared import parse_int, subset
from studies.protocols.base import (
    Column,
    ConditionSpec,
    PlanContext,
    PlannedTrial,
    Protocol,
    ResponseError,
    StimulusItem,
    register,
)
from studies.protocols.design import balanced_flags, rotate

DEFAULT_QUESTION = "Which explanation helps you better understand the model's decision?"
YES_NO = [
    {"value": "yes", "label": "Yes", "key": "y"},
    {"value": "no", "label": "No", "key": "n"},
]


@register
class Preference(Protocol):
    name = "preference"
    label = "Preference between methods (2-AFC or k-way choice)"
    description = "Participants choose the explanation they prefer among maps shown side by side."
    default_images = "all"
    defines_straightlining = False  # the same position every time is position bias
    minimum_methods = 2
    analyses = ("win_rate", "bradley_terry", "position_bias", "pair_binomial")
    schema = Schema(
        (
            Option("question", "str", DEFAULT_QUESTION, "Question", max_length=500),
            Option(
                "k",
                "int",
                2,
                "Maps per trial",
                "2 for a two-alternative forced choice; more for a k-way choice.",
                minimum=2,
                maximum=6,
            ),
            Option(
                "validation_question",
                "str",
                "",
                "Validation question",
                "Optional yes/no question asked before the choice (empty: none).",
                max_length=500,
            ),
            Option("show_image", "bool", True, "Show the image above the maps"),
            Option("show_class", "bool", False, "Show the predicted class name"),
            Option(
                "map_style", "choice", "overlay", "Map rendering", choices=("overlay", "heatmap")
            ),
        )
    )

    def cross_check(
        self, config: Mapping[str, Any], *, methods: Sequence[str]
    ) -> dict[str, list[str]]:
        if len(methods) >= 2 and config["k"] > len(methods):
            return {"k": [f"cannot show {config['k']} maps with {len(methods)} methods"]}
        return {}

    def instructions(self, config: Mapping[str, Any]) -> str:
        keys = "the left and right arrow keys" if config["k"] == 2 else f"the keys 1–{config['k']}"
        return (
            "You will see an image classified by an AI model and several saliency maps: colour "
            "highlights of the regions that the model relied on, each from a different "
            "explanation technique. Choose the one that answers the question best. There are no "
            f"right or wrong answers. You can use {keys} to choose and Enter to continue."
        )

    def _sets(self, config: Mapping[str, Any], methods: Sequence[str]) -> list[tuple[str, ...]]:
        return list(itertools.combinations(methods, config["k"]))

    def conditions(
        self, config: Mapping[str, Any], *, methods: Sequence[str]
    ) -> list[ConditionSpec]:
        n = len(self._sets(config, methods))
        return [ConditionSpec(f"rotation {r + 1}", {"set_rotation": r + 1}) for r in range(n)]

    def plan(self, ctx: PlanContext) -> list[PlannedTrial]:
        items = subset(ctx.stimuli, ctx.max_trials, ctx.rng)
        sets = self._sets(ctx.config, ctx.methods)
        row = int(ctx.condition.factors.get("set_rotation", 1)) - 1
        assigned = rotate(sets, row, len(items))
        orders = self._orders(assigned, ctx.rng)
        trials = [self._trial(ctx, item, order) for item, order in zip(items, orders, strict=True)]
        ctx.rng.shuffle(trials)
        return trials

    def _orders(
        self, assigned: Sequence[tuple[str, ...]], rng: random.Random
    ) -> list[tuple[str, ...]]:
        """Display order per trial: each pair's two orders equally often; k > 2 at random."""
        orders: list[tuple[str, ...]] = list(assigned)
        for group in set(assigned):
            where = [j for j, s in enumerate(assigned) if s == group]
            if len(group) == 2:
                for j, flip in zip(where, balanced_flags(len(where), rng), strict=True):
                    orders[j] = group[::-1] if flip else group
            else:
                for j in where:
                    orders[j] = tuple(rng.sample(group, len(group)))
        return orders

    def _trial(self, ctx: PlanContext, item: StimulusItem, order: Sequence[str]) -> PlannedTrial:
        config = ctx.config
        style = config["map_style"]
        options = [
            {
                "value": position,
                "label": f"Explanation {string.ascii_uppercase[position]}",
                "key": str(position + 1),
                "asset": ctx.asset(getattr(item.map(method), style)),
            }
            for position, method in enumerate(order)
        ]
        shown: dict[str, Any] = {
            "question": config["question"],
            "validation": (
                {"prompt": config["validation_question"], "options": YES_NO}
                if config["validation_question"]
                else None
            ),
            "image": {"asset": ctx.asset(item.image)} if config["show_image"] else None,
            "class_name": item.predicted_label if config["show_class"] else None,
            "options": options,
        }
        hidden = {
            "methods": list(order),
            "maps": [item.map(m).id for m in order],
            "model_correct": item.correct,
        }
        return PlannedTrial("main", shown, hidden, item)

    def attention_check(self, ctx: PlanContext) -> PlannedTrial:
        item = ctx.rng.choice(list(ctx.stimuli))
        order = ctx.rng.sample(list(ctx.methods), ctx.config["k"])
        trial = self._trial(ctx, item, order)
        target = ctx.rng.randrange(len(order))
        trial.shown["question"] = (
            f"This is an attention check. Please choose {trial.shown['options'][target]['label']}."
        )
        expected: dict[str, Any] = {"choice": target}
        if trial.shown["validation"]:
            trial.shown["validation"]["prompt"] = "For this check, please answer Yes."
            expected["validation"] = "yes"
        trial.kind = "attention"
        trial.hidden = {"expected": expected}
        return trial

    def validate_response(
        self, config: Mapping[str, Any], *, shown: Mapping[str, Any], value: Any
    ) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ResponseError("the answer must be an object with a 'choice'")
        out: dict[str, Any] = {}
        allowed = {"choice"}
        if shown.get("validation"):
            allowed.add("validation")
            answer = value.get("validation")
            if answer not in ("yes", "no"):
                raise ResponseError("Please answer the yes/no question first.")
            out["validation"] = answer
        raw = value.get("choice")
        if raw in (None, ""):
            raise ResponseError("Please choose one of the explanations.")
        choice = parse_int(raw)
        if choice is None or not 0 <= choice < len(shown["options"]):
            raise ResponseError(f"choice must be a position from 0 to {len(shown['options']) - 1}")
        out["choice"] = choice
        if unknown := sorted(set(value) - allowed):
            raise ResponseError(f"unexpected answer field(s): {', '.join(map(str, unknown))}")
        return out

    def score(
        self, config: Mapping[str, Any], *, hidden: Mapping[str, Any], value: Mapping[str, Any]
    ) -> dict[str, Any]:
        methods = hidden.get("methods")
        if not methods:
            return {}
        return {"methods": list(methods), "choice": methods[value["choice"]]}

    def straightlining_value(self, scored: Mapping[str, Any]) -> Any:
        return None  # always choosing the same position is position bias, analysed as such

    def export_columns(self, config: Mapping[str, Any]) -> list[Column]:
        k = config["k"]
        letters = string.ascii_lowercase[:k]
        columns = [
            Column(
                f"method_{c}",
                "string",
                f"Method shown in position {j + 1}"
                + (" (left)" if j == 0 else "")
                + (" (right)" if k == 2 and j == 1 else "")
                + ".",
            )
            for j, c in enumerate(letters)
        ]
        columns += [
            Column("choice", "string", "The chosen method (one of the method_* columns)."),
            Column(
                "chosen_position",
                "integer",
                "Position of the chosen map, 1 = first (left).",
                {"minimum": 1, "maximum": k},
            ),
        ]
        if config["validation_question"]:
            columns.append(
                Column("validation", "boolean", "Answer to the validation question (1 = yes).")
            )
        return columns

    def export_rows(
        self,
        config: Mapping[str, Any],
        *,
        hidden: Mapping[str, Any],
        value: Mapping[str, Any],
        scored: Mapping[str, Any],
    ) -> list[dict[str, Any]]:
        methods = hidden["methods"]
        row: dict[str, Any] = {
            f"method_{c}": m for c, m in zip(string.ascii_lowercase, methods, strict=False)
        }
        row["choice"] = methods[value["choice"]]
        row["chosen_position"] = value["choice"] + 1
        if config["validation_question"]:
            row["validation"] = value.get("validation") == "yes"
        return [row]

    def simulate_response(
        self,
        config: Mapping[str, Any],
        *,
        shown: Mapping[str, Any],
        hidden: Mapping[str, Any],
        rng: random.Random,
        effects: Mapping[str, float],
    ) -> dict[str, Any]:
        methods = hidden.get("methods") or [""] * len(shown["options"])
        weights = [math.exp(effects.get(m, 0.0)) for m in methods]
        value: dict[str, Any] = {"choice": rng.choices(range(len(methods)), weights=weights)[0]}
        if shown.get("validation"):
            value["validation"] = rng.choice(["yes", "no"])
        return value
