"""Model-output simulation (Alqaraawi et al. 2020, IUI, Fig. 10 of the tutorial).

A task is built around a target class: the participant first sees four training examples of the
classifier's behaviour for it, a true positive, a false positive, a true negative and a false
negative (chosen by the platform from the precomputed predictions, see ``_selection``), each
with the input image and, depending on the condition, the saliency map and/or the model's
scores. Then a new test image: "Will the system recognise <class>?" (yes/no) and a confidence
Likert item. Correctness is agreement with the MODEL's output, not with the ground truth.

Conditions: 2 × 2 between subjects, saliency map shown/hidden × scores shown/hidden, assigned by
the engine's balanced assignment. Hidden means absent from the page and from every payload: a
hidden map or score is never put in ``shown`` (nor given an image token), and the test image's
model output and ground truth are only in ``hidden``. With several methods, each method is its
own map-shown cell (2 + 2 × methods cells).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from studies.configschema import Option, Schema
from studies.protocols._indirect import (
    CONFIDENCE_LABELS,
    YES_NO,
    bot_confidence,
    bot_is_correct,
    check_fields,
    confidence_item,
    percent,
    read_confidence,
)
from studies.protocols._selection import (
    NEGATIVES,
    OUTCOME_NAMES,
    OUTCOMES,
    RULES,
    Exposure,
    Rule,
    TaskPool,
    diagnose,
    draw_tasks,
    explain,
)
from studies.protocols.base import (
    Column,
    ConditionSpec,
    PlanContext,
    PlannedTrial,
    PracticeFeedback,
    Protocol,
    ResponseError,
    StimulusItem,
    register,
)


def _rule(config: Mapping[str, Any]) -> Rule:
    return Rule(config["recognised_if"], int(config["top_k"]), config["negatives"])


def _recognised_means(rule: Rule) -> str:
    """The study's rule in the participant's words (the score tables say "guesses" too)."""
    return "its first guess" if rule.rule == "top1" else f"among its {rule.k} most likely guesses"


@register
class Simulation(Protocol):
    name = "simulation"
    label = "Model-output simulation (predict what the model will say)"
    description = (
        "Participants learn from true/false positive/negative examples of a class, then predict "
        "whether the model will recognise the class in a new image."
    )
    default_images = "all"
    defines_straightlining = True
    supports_practice_feedback = True
    schema = Schema(
        (
            Option(
                "tasks",
                "int",
                10,
                "Tasks per participant",
                "Each task: four training examples and one test image.",
                minimum=1,
                maximum=200,
            ),
            Option(
                "target_classes",
                "strings",
                [],
                "Target classes",
                "Empty: every class of the image set that can supply a task.",
            ),
            Option(
                "recognised_if",
                "choice",
                "top1",
                "The system recognises a class when it is",
                "top1: its most likely class; top_k: among its k most likely classes.",
                choices=RULES,
            ),
            Option("top_k", "int", 5, "k for top_k", minimum=2, maximum=10),
            Option(
                "negatives",
                "choice",
                "one_class",
                "Negative examples",
                "one_class: from one contrast class (positives and negatives stay two balanced "
                "classes, as in Alqaraawi et al.); any_class: from any other class.",
                choices=NEGATIVES,
            ),
            Option("points", "int", 5, "Confidence scale points", "4, 5 or 7.", minimum=4),
            Option(
                "show_test_map",
                "bool",
                True,
                "Show the test image's map (map-shown conditions)",
            ),
            Option(
                "map_style", "choice", "overlay", "Map rendering", choices=("overlay", "heatmap")
            ),
            Option("scores_shown_top", "int", 3, "Scores shown (top classes)", minimum=1),
        )
    )

    # --- configuration ------------------------------------------------------------------------
    def cross_check(
        self, config: Mapping[str, Any], *, methods: Sequence[str]
    ) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        if config["points"] not in CONFIDENCE_LABELS:
            errors["points"] = [f"must be 4, 5 or 7 (got {config['points']})"]
        if config["scores_shown_top"] > 10:
            errors["scores_shown_top"] = ["at most 10 scores can be shown"]
        return errors

    def instructions(self, config: Mapping[str, Any]) -> str:
        return (
            "An AI system looks at photos and decides whether it recognises a given object. It "
            "recognises an object when that object is "
            f"{_recognised_means(_rule(config))} for the photo. In "
            "each task you first see four examples of its decisions for one object, some right "
            "and some wrong. Then you see a new photo: predict whether the system will "
            "recognise the object in it (not whether the object is really there), and say how "
            "confident you are. Keys: Y or N, then 1–"
            f"{config['points']}, and Enter to continue."
        )

    # --- stimuli and design -------------------------------------------------------------------
    def _pools(self, config: Mapping[str, Any], stimuli: Sequence[StimulusItem]) -> list[TaskPool]:
        diagnoses = diagnose(stimuli, _rule(config))
        wanted = {name.lower() for name in config["target_classes"]}
        return [
            d.pool
            for d in diagnoses
            if d.pool is not None and (not wanted or d.label.lower() in wanted)
        ]

    def check_stimuli(
        self, config: Mapping[str, Any], stimuli: Sequence[StimulusItem], *, methods: Sequence[str]
    ) -> list[str]:
        problems = super().check_stimuli(config, stimuli, methods=methods)
        if problems:
            return problems
        rule = _rule(config)
        if not any(s.label_index is not None for s in stimuli):
            return ["the images have no ground-truth labels: TP/FP/TN/FN cannot be told apart"]
        diagnoses = diagnose(stimuli, rule)
        alternatives = {}
        if rule.rule == "top1":
            wider = Rule("top_k", 5, rule.negatives)
            alternatives["“recognised” meaning among the 5 most likely classes"] = diagnose(
                stimuli, wider
            )
        if rule.negatives == "one_class":
            pooled = Rule(rule.rule, rule.k, "any_class")
            alternatives["negatives from any other class"] = diagnose(stimuli, pooled)
        return explain(diagnoses, rule, wanted=config["target_classes"], alternatives=alternatives)

    def conditions(
        self, config: Mapping[str, Any], *, methods: Sequence[str]
    ) -> list[ConditionSpec]:
        several = len(methods) > 1
        out = []
        for map_level in [None, *methods]:
            for scores in (False, True):
                map_name = (
                    "map hidden"
                    if map_level is None
                    else (f"map {map_level}" if several else "map shown")
                )
                factors: dict[str, Any] = {
                    "saliency_shown": map_level is not None,
                    "scores_shown": scores,
                }
                if several:
                    factors["method"] = map_level
                name = f"{map_name} · scores {'shown' if scores else 'hidden'}"
                out.append(ConditionSpec(name, factors))
        return out

    def _method(self, ctx: PlanContext) -> str | None:
        factors = ctx.condition.factors
        if not factors.get("saliency_shown"):
            return None
        return str(factors.get("method") or ctx.methods[0])

    @staticmethod
    def _exposure(ctx: PlanContext) -> Exposure:
        """The images this participant has been shown so far (practice, tasks, checks)."""
        exposure = ctx.state.setdefault("exposure", Exposure())
        assert isinstance(exposure, Exposure)
        return exposure

    def _draw(self, ctx: PlanContext, n: int, exposure: Exposure | None = None) -> list[Any]:
        exposure = self._exposure(ctx) if exposure is None else exposure
        pools = self._pools(ctx.config, ctx.stimuli)
        return draw_tasks(pools, n, _rule(ctx.config), ctx.rng, exposure)

    def plan(self, ctx: PlanContext) -> list[PlannedTrial]:
        """The tasks; fewer than configured when the images run out (see ``draw_tasks``)."""
        n = int(ctx.config["tasks"])
        if ctx.max_trials is not None:
            n = min(n, ctx.max_trials)
        return [self._trial(ctx, task) for task in self._draw(ctx, n)]

    def practice(self, ctx: PlanContext, n: int) -> list[PlannedTrial]:
        """``n`` practice tasks, drawn before the main tasks: their images are never tested."""
        trials = [self._trial(ctx, task) for task in self._draw(ctx, max(n, 0))]
        for trial in trials:
            trial.kind = "practice"
            trial.shown["practice"] = True
        return trials

    def _panel(self, ctx: PlanContext, item: StimulusItem, method: str | None) -> dict[str, Any]:
        panel: dict[str, Any] = {"image": {"asset": ctx.asset(item.image)}, "map": None}
        if method is not None:
            ref = item.map(method)
            panel["map"] = {"asset": ctx.asset(getattr(ref, ctx.config["map_style"]))}
        return panel

    @staticmethod
    def _scores(
        config: Mapping[str, Any], item: StimulusItem, target: int, target_label: str
    ) -> list[dict[str, Any]]:
        """The model's most likely classes, ranked, and always the target's own row: with
        "recognised = among the top k" and fewer than k rows shown, a recognised target could
        otherwise be missing from its example's table. A target below the rows shown follows
        them (``gap``); one the model did not rank at all says so."""
        ranked = list(zip(item.top_classes, item.top_labels, item.top_probabilities, strict=False))
        shown = int(config["scores_shown_top"])
        rows = [
            {"rank": r, "label": label, "percent": percent(p), "target": c == target}
            for r, (c, label, p) in enumerate(ranked, start=1)
        ]
        out = rows[:shown]
        if not any(row["target"] for row in out):
            own = next((row for row in rows if row["target"]), None)
            if own is None:
                own = {
                    "rank": None,
                    "label": target_label,
                    "percent": f"not in its top {len(ranked)}",
                    "target": True,
                }
            out.append({**own, "gap": True})
        return out

    def _trial(self, ctx: PlanContext, task: Any) -> PlannedTrial:
        config = ctx.config
        factors = ctx.condition.factors
        method = self._method(ctx)
        scores = bool(factors.get("scores_shown"))
        rule = _rule(config)
        target = task.target_label
        examples = []
        for name in OUTCOMES:
            item = task.examples[name]
            said = name in ("TP", "FP")
            panel = self._panel(ctx, item, method)
            if scores:
                panel["scores"] = self._scores(config, item, task.target, target)
            panel["caption"] = (
                f"The system {'recognised' if said else 'did not recognise'} “{target}” "
                f"({'correct' if name in ('TP', 'TN') else 'wrong'}: "
                f"{OUTCOME_NAMES[name]})"
            )
            examples.append(panel)
        test = self._panel(ctx, task.test, method if config["show_test_map"] else None)
        shown = {
            "question": f"Will the system recognise “{target}” in this photo?",
            "target": target,
            "rule": f"It recognises “{target}” when “{target}” is {_recognised_means(rule)}.",
            "examples": examples,
            "test": test,
            "choice": {"name": "prediction", "options": YES_NO},
            "items": [confidence_item(int(config["points"]))],
        }
        model_output = task.test_outcome in ("TP", "FP")
        hidden = {
            "target": task.target,
            "target_label": target,
            "rule": rule.rule,
            "examples": {o: task.examples[o].item_id for o in OUTCOMES},
            "test_outcome": task.test_outcome,
            "model_output": model_output,
            "ground_truth": task.test_outcome in ("TP", "FN"),
            "saliency_shown": method is not None,
            "scores_shown": scores,
            "method": method,
            "maps": [item.map(method).id for item in [*task.examples.values(), task.test]]
            if method
            else [],
        }
        return PlannedTrial("main", shown, hidden, task.test)

    def attention_check(self, ctx: PlanContext) -> PlannedTrial:
        """A task whose answer is instructed. It is inserted among the main tasks, so its
        examples are never a tested image; its test image is unseen when one is left, else
        any image not tested (it is not scored), else any image."""
        exposure = self._exposure(ctx)
        tasks = (
            self._draw(ctx, 1)
            or self._draw(ctx, 1, Exposure(set(exposure.tested), set(exposure.tested)))
            or self._draw(ctx, 1, Exposure())
        )
        trial = self._trial(ctx, tasks[0])
        point = ctx.rng.randint(1, int(ctx.config["points"]))
        answer = ctx.rng.choice(YES_NO)
        trial.shown["question"] = (
            f"This is an attention check. Please answer “{answer['label']}” and choose "
            f"confidence {point}."
        )
        trial.kind = "attention"
        trial.hidden = {"expected": {"prediction": answer["value"], "confidence": point}}
        return trial

    # --- responses ----------------------------------------------------------------------------
    def validate_response(
        self, config: Mapping[str, Any], *, shown: Mapping[str, Any], value: Any
    ) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ResponseError("the answer must be an object with 'prediction' and 'confidence'")
        prediction = value.get("prediction")
        if prediction in (None, ""):
            raise ResponseError("Please answer Yes or No.")
        if prediction not in ("yes", "no"):
            raise ResponseError(f"prediction must be 'yes' or 'no' (got {prediction!r})")
        confidence = read_confidence(shown, value)
        check_fields(value, {"prediction", "confidence"})
        return {"prediction": prediction, "confidence": confidence}

    def score(
        self, config: Mapping[str, Any], *, hidden: Mapping[str, Any], value: Mapping[str, Any]
    ) -> dict[str, Any]:
        if "model_output" not in hidden:
            return {}
        said = value["prediction"] == "yes"
        return {"prediction": said, "correct": said == bool(hidden["model_output"])}

    def straightlining_value(self, scored: Mapping[str, Any]) -> Any:
        return scored.get("prediction")

    def practice_feedback(
        self, config: Mapping[str, Any], *, hidden: Mapping[str, Any], scored: Mapping[str, Any]
    ) -> PracticeFeedback:
        """Right means the MODEL's output, as in the tasks (Alqaraawi et al.'s training)."""
        if scored.get("correct"):
            return PracticeFeedback.right()
        said = bool(hidden["model_output"])
        return PracticeFeedback.wrong(
            f"The system's answer was “{'Yes' if said else 'No'}”: it "
            f"{'recognised' if said else 'did not recognise'} “{hidden['target_label']}” in "
            "this photo."
        )

    # --- export -------------------------------------------------------------------------------
    def export_columns(self, config: Mapping[str, Any]) -> list[Column]:
        points = int(config["points"])
        return [
            Column("saliency_shown", "boolean", "1 when the saliency maps were shown."),
            Column("scores_shown", "boolean", "1 when the model's scores were shown."),
            Column("method", "string", "Explanation method of the maps shown (NA: hidden)."),
            Column("target_class", "string", "The task's target class."),
            Column(
                "model_outcome",
                "string",
                "The test image's outcome for the target class: TP, FP, TN or FN.",
                {"enum": list(OUTCOMES)},
            ),
            Column("ground_truth", "boolean", "1 when the test image shows the target class."),
            Column("model_output", "boolean", "1 when the model recognised the target class."),
            Column("prediction", "boolean", "The participant's answer: 1 = will recognise."),
            Column(
                "correct",
                "boolean",
                "1 when the participant's prediction matches the model's output.",
            ),
            Column(
                "confidence",
                "integer",
                f"Confidence, 1 (not at all) to {points} (completely).",
                {"minimum": 1, "maximum": points},
            ),
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
                "saliency_shown": bool(hidden["saliency_shown"]),
                "scores_shown": bool(hidden["scores_shown"]),
                "method": hidden.get("method"),
                "target_class": hidden["target_label"],
                "model_outcome": hidden["test_outcome"],
                "ground_truth": bool(hidden["ground_truth"]),
                "model_output": bool(hidden["model_output"]),
                "prediction": bool(scored["prediction"]),
                "correct": bool(scored["correct"]),
                "confidence": value.get("confidence"),
            }
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
        """Correct with probability sigmoid(base + map·shown + scores·shown + method effect);
        ``effects`` keys: ``base``, ``map``, ``scores`` and method names (log-odds)."""
        points = int(config["points"])
        if "model_output" not in hidden:  # an attention check answered at random
            return {"prediction": rng.choice(["yes", "no"]), "confidence": rng.randint(1, points)}
        logit = effects.get("base", 0.0)
        if hidden.get("saliency_shown"):
            logit += effects.get("map", 0.0) + effects.get(str(hidden.get("method")), 0.0)
        if hidden.get("scores_shown"):
            logit += effects.get("scores", 0.0)
        correct = bot_is_correct(logit, rng)
        said = bool(hidden["model_output"]) == correct
        return {
            "prediction": "yes" if said else "no",
            "confidence": bot_confidence(points, correct, rng),
        }
