"""Likert rating of explanations, after Samuel et al. (2021, Fig. 11).

Default ("justification"): a misclassified image, its true and predicted classes, and one map of
one method for EACH of the two classes; "To what extent do these maps justify why the model
predicted <predicted> instead of <truth>?" on a labelled 5-point item. A correctly classified
image shows the map of its (predicted) class only. Variants: "single_map" rates the predicted
class's map alone ("how well does the map highlight the object?"); "properties" rates several
properties of that map on separate items.

Design: within subject by default. Each participant rates every image once; which method an image
is shown with comes from a row of a balanced Latin square (Williams design) over the methods, and
the rows are the between-subject conditions, so the balanced assignment spreads methods evenly
over images. Between subject: one method per participant (the methods are the conditions).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from studies.configschema import Option, Schema
from studies.protocols._shared import check_scale, likert_options, quoted, read_items, subset
from studies.protocols.base import (
    Column,
    ConditionSpec,
    PlanContext,
    PlannedTrial,
    Protocol,
    StimulusItem,
    register,
)
from studies.protocols.design import square_assignment, williams_square

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
RESERVED_NAMES = {"page", "trial", "idempotency_key", "rt_ms", "csrfmiddlewaretoken"}
PROPERTY_PROMPTS = {
    "relevance": "The highlighted regions are relevant to the predicted class.",
    "coverage": "The map covers the whole object, not only a part of it.",
    "consistency": "The map highlights what you would expect for this class.",
}


@register
class Likert(Protocol):
    name = "likert"
    label = "Likert rating (justification of a prediction)"
    description = "Participants rate how well saliency maps justify the model's prediction."
    default_images = "misclassified"
    defines_straightlining = True
    schema = Schema(
        (
            Option(
                "variant",
                "choice",
                "justification",
                "Variant",
                "justification: maps for the predicted and the true class; single_map: the "
                "predicted class's map; properties: several properties on separate items.",
                choices=("justification", "single_map", "properties"),
            ),
            Option(
                "question",
                "str",
                "",
                "Question",
                "Empty for the variant's default. {predicted} and {truth} are replaced by the "
                "class names.",
                max_length=500,
            ),
            Option(
                "properties",
                "strings",
                ["relevance", "coverage", "consistency"],
                "Properties",
                "For the properties variant: relevance, coverage, consistency, or name: prompt.",
            ),
            Option("points", "int", 5, "Scale points", "4, 5, 6 or 7.", minimum=2, maximum=11),
            Option("labels", "strings", [], "Anchor labels", "Empty for defaults; one per point."),
            Option(
                "neutral",
                "bool",
                True,
                "Neutral midpoint",
                "Off for the no-neutral variant (needs an even number of points).",
            ),
            Option(
                "design",
                "choice",
                "within",
                "Design",
                "within: every participant rates all methods (Latin square over images); "
                "between: one method per participant.",
                choices=("within", "between"),
            ),
            Option("show_image", "bool", True, "Show the image beside the maps"),
            Option("show_classes", "bool", True, "Show the true and predicted class names"),
            Option(
                "map_style",
                "choice",
                "overlay",
                "Map rendering",
                choices=("overlay", "heatmap"),
            ),
        )
    )

    # --- configuration ------------------------------------------------------------------------
    def cross_check(
        self, config: Mapping[str, Any], *, methods: Sequence[str]
    ) -> dict[str, list[str]]:
        errors = check_scale(config["points"], config["labels"], config["neutral"])
        if config["variant"] == "properties":
            if not config["properties"]:
                errors["properties"] = ["name at least one property to rate"]
            for entry in config["properties"]:
                name, prompt = _property(entry)
                if not prompt:
                    errors.setdefault("properties", []).append(
                        f"{name!r} has no default prompt: write it as '{name}: <statement>' "
                        f"(known: {', '.join(PROPERTY_PROMPTS)})"
                    )
            names = [_property(e)[0] for e in config["properties"]]
            if len(set(names)) != len(names):
                errors.setdefault("properties", []).append("property names must be distinct")
            if bad := [n for n in names if not _NAME.match(n) or n in RESERVED_NAMES]:
                errors.setdefault("properties", []).append(
                    f"property names must be lower-case words (not {', '.join(map(repr, bad))})"
                )
        try:
            config["question"].format(predicted="", truth="")
        except (KeyError, IndexError, ValueError):
            errors["question"] = ["only {predicted} and {truth} may appear in braces"]
        return errors

    def instructions(self, config: Mapping[str, Any]) -> str:
        return (
            "You will see images classified by an AI model, with saliency maps: colour "
            "highlights of the regions that the model relied on. For each, answer the question "
            "on the scale. There are no right or wrong answers. You can use the number keys "
            f"1–{config['points']} to answer and Enter to continue."
        )

    # --- stimuli and design -------------------------------------------------------------------
    def targets_for(self, config: Mapping[str, Any], *, correct: bool | None) -> tuple[str, ...]:
        if config["variant"] == "justification" and correct is False:
            return ("predicted", "truth")
        return ("predicted",)

    def check_stimuli(
        self, config: Mapping[str, Any], stimuli: Sequence[StimulusItem], *, methods: Sequence[str]
    ) -> list[str]:
        problems = super().check_stimuli(config, stimuli, methods=methods)
        if config["design"] == "within" and stimuli and len(stimuli) < len(methods):
            problems.append(
                f"a within-subject design over {len(methods)} methods needs at least "
                f"{len(methods)} images; the selection has {len(stimuli)}"
            )
        return problems

    def conditions(
        self, config: Mapping[str, Any], *, methods: Sequence[str]
    ) -> list[ConditionSpec]:
        if config["design"] == "between":
            return [ConditionSpec(method, {"method": method}) for method in methods]
        rows = williams_square(len(methods))
        return [ConditionSpec(f"order {r + 1}", {"latin_row": r + 1}) for r in range(len(rows))]

    def _methods_for(self, ctx: PlanContext, n: int) -> list[str]:
        if "method" in ctx.condition.factors:
            return [str(ctx.condition.factors["method"])] * n
        row = williams_square(len(ctx.methods))[int(ctx.condition.factors["latin_row"]) - 1]
        return [ctx.methods[k] for k in square_assignment(n, row)]

    def plan(self, ctx: PlanContext) -> list[PlannedTrial]:
        items = list(ctx.stimuli)
        if ctx.max_trials is not None and ctx.max_trials < len(items):
            items = subset(items, ctx.max_trials, ctx.rng)
        methods = self._methods_for(ctx, len(items))
        trials = [
            self._trial(ctx, item, method) for item, method in zip(items, methods, strict=True)
        ]
        ctx.rng.shuffle(trials)
        return trials

    def _trial(self, ctx: PlanContext, item: StimulusItem, method: str) -> PlannedTrial:
        config = ctx.config
        style = config["map_style"]
        two_maps = self.targets_for(config, correct=item.correct) == ("predicted", "truth")
        images: list[dict[str, str]] = []
        if config["show_image"]:
            images.append({"asset": ctx.asset(item.image), "caption": "Image"})
        show = config["show_classes"]
        predicted_caption = (
            f"Explanation for {quoted(item.predicted_label)} (predicted)" if show else "Explanation"
        )
        maps = {"predicted": item.map(method, "predicted").id}
        images.append(
            {"asset": ctx.asset(getattr(item.map(method), style)), "caption": predicted_caption}
        )
        if two_maps:
            ref = item.map(method, "truth")
            maps["truth"] = ref.id
            caption = (
                f"Explanation for {quoted(item.label)} (true class)" if show else "Explanation 2"
            )
            images.append({"asset": ctx.asset(getattr(ref, style)), "caption": caption})
        facts = []
        if show:
            facts = [["Predicted class", item.predicted_label or "?"]]
            if item.label is not None:
                facts.insert(0, ["True class", item.label])
        shown = {
            "question": self._question(config, item, two_maps),
            "facts": facts,
            "images": images,
            "items": self._items(config),
        }
        hidden = {"method": method, "maps": maps, "model_correct": item.correct}
        return PlannedTrial("main", shown, hidden, item)

    def _question(self, config: Mapping[str, Any], item: StimulusItem, two_maps: bool) -> str:
        predicted, truth = item.predicted_label or "?", item.label or "?"
        if config["question"]:
            return str(config["question"]).format(predicted=predicted, truth=truth)
        if config["variant"] == "justification" and two_maps:
            return (
                f"To what extent do these maps justify why the model predicted {quoted(predicted)} "
                f"instead of {quoted(truth)}?"
            )
        if config["variant"] == "justification":
            return (
                f"To what extent does this map justify why the model predicted {quoted(predicted)}?"
            )
        if config["variant"] == "single_map":
            return f"How well does the map highlight the {predicted}?"
        return "How much do you agree with each statement about the explanation?"

    def _items(self, config: Mapping[str, Any]) -> list[dict[str, Any]]:
        options = likert_options(config["points"], config["labels"])
        if config["variant"] != "properties":
            name = "justification" if config["variant"] == "justification" else "highlight"
            return [{"name": name, "prompt": "", "options": options}]
        return [
            {"name": name, "prompt": prompt, "options": options}
            for name, prompt in map(_property, config["properties"])
        ]

    def attention_check(self, ctx: PlanContext) -> PlannedTrial:
        item = ctx.rng.choice(list(ctx.stimuli))
        trial = self._trial(ctx, item, ctx.rng.choice(list(ctx.methods)))
        option = ctx.rng.choice(trial.shown["items"][0]["options"])
        trial.shown["question"] = (
            f"This is an attention check. Please answer “{option['label']}” "
            f"({option['value']}) to every question on this page."
        )
        trial.kind = "attention"
        trial.hidden = {"expected": {i["name"]: option["value"] for i in trial.shown["items"]}}
        return trial

    # --- responses ----------------------------------------------------------------------------
    def validate_response(
        self, config: Mapping[str, Any], *, shown: Mapping[str, Any], value: Any
    ) -> dict[str, Any]:
        return dict(read_items(shown, value))

    def score(
        self, config: Mapping[str, Any], *, hidden: Mapping[str, Any], value: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"method": hidden.get("method"), "ratings": dict(value)}

    def straightlining_value(self, scored: Mapping[str, Any]) -> Any:
        return tuple(sorted(scored.get("ratings", {}).items()))

    # --- export -------------------------------------------------------------------------------
    def export_columns(self, config: Mapping[str, Any]) -> list[Column]:
        points = config["points"]
        return [
            Column("method", "string", "Explanation method whose map(s) were rated."),
            Column(
                "property",
                "string",
                "What was rated (justification, highlight, or a property of the properties "
                "variant); analyse one property at a time.",
            ),
            Column(
                "rating",
                "integer",
                f"Scale point chosen, 1 (lowest) to {points} (highest).",
                {"minimum": 1, "maximum": points},
            ),
            Column("n_maps", "integer", "Maps shown: 2 (predicted and true class) or 1."),
        ]

    def export_rows(
        self,
        config: Mapping[str, Any],
        *,
        hidden: Mapping[str, Any],
        value: Mapping[str, Any],
        scored: Mapping[str, Any],
    ) -> list[dict[str, Any]]:
        return [
            {
                "method": hidden["method"],
                "property": name,
                "rating": rating,
                "n_maps": len(hidden.get("maps", {})),
            }
            for name, rating in value.items()
        ]

    # --- bots ---------------------------------------------------------------------------------
    def simulate_response(
        self,
        config: Mapping[str, Any],
        *,
        shown: Mapping[str, Any],
        hidden: Mapping[str, Any],
        rng: random.Random,
        effects: Mapping[str, float],
    ) -> dict[str, Any]:
        points = config["points"]
        centre = (points + 1) / 2 + effects.get(str(hidden.get("method")), 0.0)
        return {
            item["name"]: min(points, max(1, round(rng.gauss(centre, 1.0))))
            for item in shown["items"]
        }


def _property(entry: str) -> tuple[str, str]:
    name, _, prompt = entry.partition(":")
    name = name.strip()
    return name, prompt.strip() or PROPERTY_PROMPTS.get(name, "")
