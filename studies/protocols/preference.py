"""Preference between methods (Jeyakumar et al. 2020; "which map best highlights the object").

One image with the maps of two methods side by side (2-AFC) or of ``k`` methods (k-way choice,
or a full ranking), same class (the predicted one), same rendering. An optional yes/no validation
question comes first, as in Jeyakumar et al. Response modes (option ``response_mode``):

- ``choice`` (default): the participant picks one map (answer ``{"choice": position}``).
- ``ranking`` (``k`` ≥ 3): the participant orders all ``k`` maps, best first, with one select per
  place (answer ``{"rank_1": position, …, "rank_k": position}``, a permutation of the shown
  positions; anything else is refused and nothing is stored). Attention checks ask to rank one
  named map first. Positions are display positions (0 = first/left): the browser never sees
  which method is where.

Export of a k-way choice (k ≥ 3): the chosen map beats each of the other ``k − 1`` maps, one row
per such comparison (``method_a`` / ``method_b`` in display order, ``choice`` the chosen method,
``chosen_position`` its display position, ``shown`` the trial's methods in display order), so the
tidy table has the pairwise form the analysis reads for every ``k``; 2-AFC is one row as before.

Export of a ranking (rank-breaking, "full breaking"): a ranking of ``k`` maps implies
``k(k−1)/2`` pairwise comparisons, and each becomes one row of the tidy table with
``method_a`` / ``method_b`` the pair in display order (``method_a`` shown first, so the position
analyses keep their meaning), ``choice`` the one ranked higher, ``chosen_position`` its display
position, and ``ranking`` the full order (methods best first, separated by ``>``). All rows of a
ranking share its ``trial_index``. Under a Plackett–Luce model, full breaking gives consistent
Bradley–Terry estimates (Azari Soufiani et al. 2013), but the comparisons from one ranking are not
independent: analyse them with uncertainty clustered by participant (as the analysis package's
Bradley–Terry SEs and win-rate bootstrap are).

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
    label = "Preference between methods (2-AFC, k-way choice or ranking)"
    description = "Participants choose the explanation they prefer among maps shown side by side."
    default_images = "all"
    defines_straightlining = False  # the same position every time is position bias
    minimum_methods = 2
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
                "response_mode",
                "choice",
                "choice",
                "Response",
                "choice: pick the best map; ranking: order all k maps, best first (k ≥ 3).",
                choices=("choice", "ranking"),
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
        if config["response_mode"] == "ranking" and config["k"] < 3:
            return {
                "response_mode": [
                    f"a ranking needs k ≥ 3 maps per trial (k is {config['k']}; with two maps "
                    "a ranking is a choice: use response_mode 'choice')"
                ]
            }
        return {}

    def instructions(self, config: Mapping[str, Any]) -> str:
        if config["response_mode"] == "ranking":
            return (
                "You will see an image classified by an AI model and several saliency maps: "
                "colour highlights of the regions that the model relied on, each from a different "
                "explanation technique. Rank all of them from the one that answers the question "
                "best (1st) to the one that answers it least well, using each map exactly once. "
                "There are no right or wrong answers. You can choose each place in the lists, or "
                f"press the keys 1–{config['k']} in your order of preference (Backspace undoes "
                "the last one), and Enter to continue."
            )
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
        if config["response_mode"] == "ranking":
            shown["ranks"] = [
                {"name": f"rank_{r}", "label": _ordinal(r)} for r in range(1, len(order) + 1)
            ]
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
        label = trial.shown["options"][target]["label"]
        expected: dict[str, Any]
        if ctx.config["response_mode"] == "ranking":
            trial.shown["question"] = (
                f"This is an attention check. Please rank {label} first (any order after it)."
            )
            expected = {"first": target}
        else:
            trial.shown["question"] = f"This is an attention check. Please choose {label}."
            expected = {"choice": target}
        if trial.shown["validation"]:
            trial.shown["validation"]["prompt"] = "For this check, please answer Yes."
            expected["validation"] = "yes"
        trial.kind = "attention"
        trial.hidden = {"expected": expected}
        return trial

    def validate_response(
        self, config: Mapping[str, Any], *, shown: Mapping[str, Any], value: Any
    ) -> dict[str, Any]:
        ranking = bool(shown.get("ranks"))
        if not isinstance(value, Mapping):
            raise ResponseError(
                "the answer must be an object with "
                + ("'rank_1' … 'rank_k'" if ranking else "a 'choice'")
            )
        out: dict[str, Any] = {}
        allowed = {r["name"] for r in shown["ranks"]} if ranking else {"choice"}
        if shown.get("validation"):
            allowed.add("validation")
            answer = value.get("validation")
            if answer not in ("yes", "no"):
                raise ResponseError("Please answer the yes/no question first.")
            out["validation"] = answer
        if unknown := sorted(set(map(str, value)) - allowed):
            raise ResponseError(f"unexpected answer field(s): {', '.join(unknown)}")
        if ranking:
            out["ranking"] = _read_ranking(shown, value)
            return out
        raw = value.get("choice")
        if raw in (None, ""):
            raise ResponseError("Please choose one of the explanations.")
        choice = parse_int(raw)
        if choice is None or not 0 <= choice < len(shown["options"]):
            raise ResponseError(f"choice must be a position from 0 to {len(shown['options']) - 1}")
        out["choice"] = choice
        return out

    def attention_passed(self, *, hidden: Mapping[str, Any], value: Mapping[str, Any]) -> bool:
        expected = hidden.get("expected", {})
        if "first" in expected:  # ranking mode: the instructed map ranked first
            ranking = value.get("ranking") or [None]
            if ranking[0] != expected["first"]:
                return False
            expected = {k: v for k, v in expected.items() if k != "first"}
        return all(value.get(key) == want for key, want in expected.items())

    def score(
        self, config: Mapping[str, Any], *, hidden: Mapping[str, Any], value: Mapping[str, Any]
    ) -> dict[str, Any]:
        methods = hidden.get("methods")
        if not methods:
            return {}
        if "ranking" in value:
            order = [methods[p] for p in value["ranking"]]
            return {"methods": list(methods), "ranking": order, "choice": order[0]}
        return {"methods": list(methods), "choice": methods[value["choice"]]}

    def straightlining_value(self, scored: Mapping[str, Any]) -> Any:
        return None  # always choosing the same position is position bias, analysed as such

    def export_columns(self, config: Mapping[str, Any]) -> list[Column]:
        if config["response_mode"] == "ranking":
            return self._ranking_columns(config)
        k = config["k"]
        if k == 2:
            columns = [
                Column("method_a", "string", "Method shown in position 1 (left)."),
                Column("method_b", "string", "Method shown in position 2 (right)."),
                Column("choice", "string", "The chosen method (method_a or method_b)."),
            ]
        else:
            columns = [
                Column(
                    "method_a",
                    "string",
                    "A k-way choice is exported as the pairwise comparisons it implies (the "
                    "chosen map beats each other map: k − 1 rows per trial): the pair's method "
                    "shown first (further left).",
                ),
                Column("method_b", "string", "The pair's method shown second (further right)."),
                Column("choice", "string", "The chosen method (method_a or method_b)."),
                Column(
                    "shown",
                    "string",
                    "Every method of the trial in display order, separated by ', ' (the same "
                    "on every row of the trial).",
                ),
            ]
        columns.append(
            Column(
                "chosen_position",
                "integer",
                "Display position of the chosen map among the trial's k maps, 1 = first (left).",
                {"minimum": 1, "maximum": k},
            )
        )
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
        if "ranking" in value:
            return self._ranking_rows(config, methods=methods, value=value)
        chosen = int(value["choice"])
        rows = []
        for other in range(len(methods)):
            if other == chosen:
                continue
            first, second = sorted((chosen, other))
            row: dict[str, Any] = {
                "method_a": methods[first],
                "method_b": methods[second],
                "choice": methods[chosen],
                "chosen_position": chosen + 1,
            }
            if len(methods) > 2:
                row["shown"] = ", ".join(methods)
            if config["validation_question"]:
                row["validation"] = value.get("validation") == "yes"
            rows.append(row)
        return rows

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
        value: dict[str, Any]
        if shown.get("ranks"):
            value = {
                rank["name"]: position
                for rank, position in zip(shown["ranks"], _plackett_luce(weights, rng), strict=True)
            }
        else:
            value = {"choice": rng.choices(range(len(methods)), weights=weights)[0]}
        if shown.get("validation"):
            value["validation"] = rng.choice(["yes", "no"])
        return value

    # --- ranking mode ------------------------------------------------------------------------
    def _ranking_columns(self, config: Mapping[str, Any]) -> list[Column]:
        k = config["k"]
        columns = [
            Column(
                "method_a",
                "string",
                "Ranking trials are exported as their implied pairwise comparisons (one row per "
                "pair of shown methods): the pair's method shown first (further left).",
            ),
            Column("method_b", "string", "The pair's method shown second (further right)."),
            Column(
                "choice",
                "string",
                "The method of the pair that the participant ranked higher (method_a or method_b).",
            ),
            Column(
                "chosen_position",
                "integer",
                "Display position of the chosen map among the trial's k maps, 1 = first (left).",
                {"minimum": 1, "maximum": k},
            ),
            Column(
                "ranking",
                "string",
                "The participant's full ranking of the trial's maps, methods best first "
                "separated by '>' (the same on every row of the trial).",
            ),
        ]
        if config["validation_question"]:
            columns.append(
                Column("validation", "boolean", "Answer to the validation question (1 = yes).")
            )
        return columns

    def _ranking_rows(
        self, config: Mapping[str, Any], *, methods: Sequence[str], value: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Rank-breaking: one row per pair of display positions ``i < j``; the winner is the
        one with the smaller rank ``r(i)`` (``r`` = place in ``value["ranking"]``)."""
        ranking: list[int] = list(value["ranking"])
        place = {position: r for r, position in enumerate(ranking)}
        order = " > ".join(methods[p] for p in ranking)
        rows = []
        for i, j in itertools.combinations(range(len(methods)), 2):
            winner = i if place[i] < place[j] else j
            row: dict[str, Any] = {
                "method_a": methods[i],
                "method_b": methods[j],
                "choice": methods[winner],
                "chosen_position": winner + 1,
                "ranking": order,
            }
            if config["validation_question"]:
                row["validation"] = value.get("validation") == "yes"
            rows.append(row)
        return rows


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _read_ranking(shown: Mapping[str, Any], value: Mapping[str, Any]) -> list[int]:
    """The display positions best first; :class:`ResponseError` unless a permutation."""
    options = shown["options"]
    k = len(options)
    missing = [r["label"] for r in shown["ranks"] if value.get(r["name"]) in (None, "")]
    if missing:
        raise ResponseError(
            f"Please rank every explanation: choose one for the {', '.join(missing)} place."
        )
    positions = []
    for rank in shown["ranks"]:
        position = parse_int(value[rank["name"]])
        if position is None or not 0 <= position < k:
            raise ResponseError(f"{rank['name']} must be a position from 0 to {k - 1}")
        positions.append(position)
    if len(set(positions)) != k:
        twice = [options[p]["label"] for p in sorted(set(positions)) if positions.count(p) > 1]
        unused = [options[p]["label"] for p in range(k) if p not in positions]
        raise ResponseError(
            "Please rank each explanation exactly once: "
            f"{' and '.join(twice)} {'is' if len(twice) == 1 else 'are'} ranked more than once, "
            f"{' and '.join(unused)} {'is' if len(unused) == 1 else 'are'} not ranked."
        )
    return positions


def _plackett_luce(weights: Sequence[float], rng: random.Random) -> list[int]:
    """A random order of ``range(len(weights))`` under Plackett–Luce: each next place is drawn
    among the remaining items with probability ∝ weight."""
    left = list(range(len(weights)))
    out = []
    while left:
        pick = rng.choices(left, weights=[weights[j] for j in left])[0]
        out.append(pick)
        left.remove(pick)
    return out
