"""Ground-truth prediction (refs 76–81 of the tutorial; Kenny et al.; HIVE's agreement task).

The participant sees an image with or without the explanation of the model's prediction and
picks the TRUE class among ``k`` options (default 4): the ground truth, the model's prediction
when it differs, and the model's next most likely classes as distractors (other classes of the
image set when the model's top classes run out), in random order. Variant ``verify``: "The model
predicted <class>. Is this prediction correct?" (yes/no), as in Kenny et al. and HIVE. A
confidence Likert item follows by default.

Conditions: the levels are "none" (no explanation) and each method. ``compare="explanation"``
(one method): explanation shown / hidden; ``compare="methods"``: none and every method. Between
subjects by default (one level per participant), or within subjects: a balanced Latin square
(Williams design) over the levels assigns one level to each image, the rows being the conditions.
Which option is the truth, whether the model was right, and the level are only in ``hidden``.
With ``show_prediction`` (choose_class) the question names the model's prediction, as ``verify``
does; the export then has ``agrees_with_model`` for the reliance analyses
(:mod:`analysis.reliance`).
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
    read_confidence,
)
from studies.protocols._shared import parse_int, quoted, subset
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
from studies.protocols.design import square_assignment, williams_square

NONE = "none"
DEGRADATIONS = ("none", "blur", "crop", "grayscale")


def degraded_copy(name: str, how: str, strength: float) -> str:
    """Store a degraded copy of the stored image ``name``; the copy's (opaque) storage name."""
    import io
    import uuid

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image, ImageFilter, ImageOps

    with default_storage.open(name, "rb") as handle:
        picture = Image.open(handle).convert("RGB")
    width, height = picture.size
    if how == "blur":
        picture = picture.filter(ImageFilter.GaussianBlur(radius=strength * width / 5))
    elif how == "crop":
        dx, dy = round(width * (1 - strength) / 2), round(height * (1 - strength) / 2)
        picture = picture.crop((dx, dy, width - dx, height - dy))
    elif how == "grayscale":
        picture = ImageOps.grayscale(picture).convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return default_storage.save(
        f"s/{uuid.uuid4().hex}.png",
        ContentFile(buffer.getvalue()),  # as every shown file
    )


def class_names(stimuli: Sequence[StimulusItem]) -> dict[int, str]:
    """Every class the stimuli name, by index: the classifier's spelling (predicted and top
    classes) wins over an image's label, so that each class has one name."""
    names: dict[int, str] = {}
    for s in stimuli:
        if s.predicted is not None and s.predicted_label:
            names.setdefault(s.predicted, s.predicted_label)
        for index, name in zip(s.top_classes, s.top_labels, strict=False):
            if name:
                names.setdefault(index, name)
    for s in stimuli:
        if s.label_index is not None and s.label:
            names.setdefault(s.label_index, s.label)
    return names


def _truth_position(options: Sequence[tuple[int | None, str]], item: StimulusItem) -> int | None:
    for position, (index, name) in enumerate(options):
        if index is not None and index == item.label_index:
            return position
        if index is None and item.label_index is None and name == item.label:
            return position
    return None


def shows_prediction(config: Mapping[str, Any]) -> bool:
    """Whether the participant sees the model's prediction (so that reliance is defined)."""
    return config["variant"] == "verify" or bool(config.get("show_prediction"))


def agrees_with_model(
    config: Mapping[str, Any], *, hidden: Mapping[str, Any], value: Mapping[str, Any]
) -> bool | None:
    """Whether the answer follows the model: "yes, correct" (verify), or the model's class
    chosen (by class index when planned with one, else by name); None when unknown."""
    if config["variant"] == "verify":
        return bool(value["answer"] == "yes")
    answer = value["answer"]
    classes = hidden.get("option_classes")
    if classes is not None and hidden.get("predicted_class") is not None:
        return bool(classes[answer] == hidden["predicted_class"])
    if not hidden.get("predicted"):
        return None
    return bool(hidden["options"][answer] == hidden["predicted"])


@register
class GroundTruthPrediction(Protocol):
    name = "gt_prediction"
    label = "Ground-truth prediction (pick the true class, or judge the model)"
    description = (
        "Participants pick an image's true class among k options, or decide whether the model's "
        "prediction is correct, with or without the explanation."
    )
    default_images = "all"
    defines_straightlining = True
    supports_practice_feedback = True
    schema = Schema(
        (
            Option(
                "variant",
                "choice",
                "choose_class",
                "Variant",
                "choose_class: pick the true class among k options; verify: is the model's "
                "prediction correct? (yes/no).",
                choices=("choose_class", "verify"),
            ),
            Option("k", "int", 4, "Options (choose_class)", minimum=2, maximum=8),
            Option(
                "show_prediction",
                "bool",
                False,
                "Show the model's prediction (choose_class)",
                "The question names the class the model predicted, so that reliance on the "
                "model (over-, under- and appropriate reliance) can be measured; verify always "
                "shows it.",
            ),
            Option(
                "compare",
                "choice",
                "explanation",
                "Compare",
                "explanation: shown vs hidden (one method); methods: no explanation and each "
                "method.",
                choices=("explanation", "methods"),
            ),
            Option(
                "design",
                "choice",
                "between",
                "Design",
                "between: one condition per participant; within: every participant sees every "
                "condition, balanced over images by a Latin square.",
                choices=("between", "within"),
            ),
            Option("confidence", "bool", True, "Ask for confidence"),
            Option("points", "int", 5, "Confidence scale points", "4, 5 or 7.", minimum=4),
            Option(
                "map_style", "choice", "overlay", "Map rendering", choices=("overlay", "heatmap")
            ),
            Option(
                "degrade",
                "choice",
                "none",
                "Show the image degraded",
                "none, blur (Gaussian), crop (the centre) or grayscale; the map is unchanged.",
                choices=DEGRADATIONS,
            ),
            Option(
                "degrade_strength",
                "float",
                0.5,
                "Degradation strength",
                "blur: radius as a fraction of 2% of the image's width per 0.1; crop: the fraction "
                "of each side kept (0.5 keeps the central half).",
                minimum=0.05,
                maximum=1.0,
            ),
        )
    )

    # --- configuration ------------------------------------------------------------------------
    def cross_check(
        self, config: Mapping[str, Any], *, methods: Sequence[str]
    ) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        if config["points"] not in CONFIDENCE_LABELS:
            errors["points"] = [f"must be 4, 5 or 7 (got {config['points']})"]
        if config["compare"] == "explanation" and len(methods) > 1:
            errors["compare"] = [
                f"explanation shown/hidden uses one method ({len(methods)} chosen): choose one "
                "method, or compare 'methods'"
            ]
        return errors

    def instructions(self, config: Mapping[str, Any]) -> str:
        if config["variant"] == "verify":
            task = (
                "For each photo you see what an AI system predicted it shows. Decide whether the "
                "prediction is correct (keys Y or N)"
            )
        else:
            task = (
                "For each photo, choose what it really shows among the options (keys "
                f"1–{config['k']})"
            )
            if config["show_prediction"]:
                task += "; you also see what an AI system predicted, which may be wrong"
        extra = " Some photos come with a colour map of the regions the system relied on."
        confidence = (
            f", then say how confident you are (keys 1–{config['points']})"
            if config["confidence"]
            else ""
        )
        return f"{task}{confidence}. Press Enter to continue.{extra}"

    # --- stimuli and design -------------------------------------------------------------------
    def check_stimuli(
        self, config: Mapping[str, Any], stimuli: Sequence[StimulusItem], *, methods: Sequence[str]
    ) -> list[str]:
        problems = super().check_stimuli(config, stimuli, methods=methods)
        unlabelled = sum(s.label_index is None for s in stimuli)
        if unlabelled:
            problems.append(
                f"{unlabelled} image(s) have no ground-truth label: the true class is needed"
            )
        if config["variant"] == "choose_class":
            n_classes = len(class_names(stimuli))
            if n_classes < config["k"]:
                problems.append(
                    f"{config['k']} options need {config['k']} different classes; the images and "
                    f"the model's top classes name only {n_classes}"
                )
        if config["design"] == "within" and stimuli:
            levels = self._levels(config, methods)
            if len(stimuli) < len(levels):
                problems.append(
                    f"a within-subject design over {len(levels)} conditions needs at least "
                    f"{len(levels)} images; the selection has {len(stimuli)}"
                )
        return problems

    def prepare_stimulus(self, config: Mapping[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """A degraded copy of the image, stored under an opaque name, replaces it in trials."""
        if config["degrade"] == "none":
            return data
        data["original_image"] = data["image"]
        data["image"] = degraded_copy(
            data["image"], config["degrade"], float(config["degrade_strength"])
        )
        return data

    def _levels(self, config: Mapping[str, Any], methods: Sequence[str]) -> list[str]:
        return [NONE, *(methods[:1] if config["compare"] == "explanation" else methods)]

    def conditions(
        self, config: Mapping[str, Any], *, methods: Sequence[str]
    ) -> list[ConditionSpec]:
        levels = self._levels(config, methods)
        if config["design"] == "within":
            rows = williams_square(len(levels))
            return [ConditionSpec(f"order {r + 1}", {"latin_row": r + 1}) for r in range(len(rows))]
        if config["compare"] == "explanation":
            return [
                ConditionSpec("explanation hidden", {"explanation_shown": False}),
                ConditionSpec("explanation shown", {"explanation_shown": True}),
            ]
        return [ConditionSpec(f"level {level}", {"method": level}) for level in levels]

    def _levels_for(self, ctx: PlanContext, n: int) -> list[str]:
        levels = self._levels(ctx.config, ctx.methods)
        factors = ctx.condition.factors
        if "latin_row" in factors:
            row = williams_square(len(levels))[int(factors["latin_row"]) - 1]
            return [levels[k] for k in square_assignment(n, row)]
        if "explanation_shown" in factors:
            return [levels[1] if factors["explanation_shown"] else NONE] * n
        return [str(factors["method"])] * n

    def plan(self, ctx: PlanContext) -> list[PlannedTrial]:
        items = subset(ctx.stimuli, ctx.max_trials, ctx.rng)
        levels = self._levels_for(ctx, len(items))
        trials = [self._trial(ctx, item, level) for item, level in zip(items, levels, strict=True)]
        ctx.rng.shuffle(trials)
        return trials

    def _options(self, ctx: PlanContext, item: StimulusItem) -> list[tuple[int | None, str]]:
        """Truth, prediction, the model's next classes, then other classes; shuffled.

        Options are classes (index, name): a class is offered once, and two classes the
        classifier names alike are not both offered (the participant could not tell them apart).
        """
        k = int(ctx.config["k"])
        names = class_names(ctx.stimuli)
        options: list[tuple[int | None, str]] = []

        def offer(index: int | None, name: str | None) -> None:
            if index is not None:
                name = names.get(index, name)
            if not name or len(options) >= k:
                return
            if any((index is not None and index == i) or name == n for i, n in options):
                return
            options.append((index, name))

        offer(item.label_index, item.label)
        offer(item.predicted, item.predicted_label)
        for index, name in zip(item.top_classes, item.top_labels, strict=False):
            offer(index, name)
        if len(options) < k:
            taken = {i for i, _ in options}
            taken_names = {n for _, n in options}
            pool = sorted(
                (i, n) for i, n in names.items() if i not in taken and n not in taken_names
            )
            for index, name in ctx.rng.sample(pool, len(pool)):
                offer(index, name)
        ctx.rng.shuffle(options)
        return options

    def _trial(self, ctx: PlanContext, item: StimulusItem, level: str) -> PlannedTrial:
        config = ctx.config
        shown: dict[str, Any] = {
            "image": {"asset": ctx.asset(item.image)},
            "explanation": None,
            "items": [confidence_item(int(config["points"]))] if config["confidence"] else [],
        }
        if level != NONE:
            ref = item.map(level)
            shown["explanation"] = {"asset": ctx.asset(getattr(ref, config["map_style"]))}
        hidden: dict[str, Any] = {
            "level": level,
            "method": None if level == NONE else level,
            "explanation_shown": level != NONE,
            "truth": item.label,
            "predicted": item.predicted_label,
            "model_correct": item.correct,
            "predicted_class": item.predicted,
        }
        if config["variant"] == "verify":
            shown["question"] = (
                f"The system says this photo shows {quoted(item.predicted_label)}. "
                "Is this prediction correct?"
            )
            shown["choice"] = {"name": "answer", "options": YES_NO}
        else:
            options = self._options(ctx, item)
            names = [name for _, name in options]
            shown["question"] = "What does this photo really show?"
            if config["show_prediction"]:
                shown["question"] = (
                    f"The system says this photo shows {quoted(item.predicted_label)}. "
                    "What does this photo really show?"
                )
            shown["choice"] = {
                "name": "answer",
                "options": [
                    {"value": j, "label": name, "key": str(j + 1)} for j, name in enumerate(names)
                ],
            }
            hidden["options"] = names
            hidden["option_classes"] = [index for index, _ in options]
            hidden["truth_class"] = item.label_index
            hidden["truth_position"] = _truth_position(options, item)
            if hidden["truth_position"] is not None:  # the name the participant saw
                hidden["truth"] = names[hidden["truth_position"]]
        if shown["explanation"] is not None:
            hidden["map"] = item.map(level).id
        return PlannedTrial("main", shown, hidden, item)

    def attention_check(self, ctx: PlanContext) -> PlannedTrial:
        item = ctx.rng.choice(list(ctx.stimuli))
        trial = self._trial(ctx, item, NONE)
        option = ctx.rng.choice(trial.shown["choice"]["options"])
        expected: dict[str, Any] = {"answer": option["value"]}
        text = f"This is an attention check. Please answer “{option['label']}”"
        if trial.shown["items"]:
            point = ctx.rng.randint(1, int(ctx.config["points"]))
            expected["confidence"] = point
            text += f" and choose confidence {point}"
        trial.shown["question"] = text + "."
        trial.kind = "attention"
        trial.hidden = {"expected": expected}
        return trial

    # --- responses ----------------------------------------------------------------------------
    def validate_response(
        self, config: Mapping[str, Any], *, shown: Mapping[str, Any], value: Any
    ) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ResponseError("the answer must be an object with an 'answer'")
        raw = value.get("answer")
        if raw in (None, ""):
            raise ResponseError("Please choose an answer.")
        options = shown["choice"]["options"]
        allowed = [o["value"] for o in options]
        answer: Any = raw if isinstance(allowed[0], str) else parse_int(raw)
        if answer not in allowed:
            raise ResponseError(f"answer must be one of {', '.join(map(str, allowed))}")
        out: dict[str, Any] = {"answer": answer}
        fields = {"answer"}
        if shown.get("items"):
            out["confidence"] = read_confidence(shown, value)
            fields.add("confidence")
        check_fields(value, fields)
        return out

    def score(
        self, config: Mapping[str, Any], *, hidden: Mapping[str, Any], value: Mapping[str, Any]
    ) -> dict[str, Any]:
        if "level" not in hidden:
            return {}
        if config["variant"] == "verify":
            said = value["answer"] == "yes"
            model_correct = hidden.get("model_correct")
            correct = None if model_correct is None else said == bool(model_correct)
            return {"said_correct": said, "correct": correct}
        answer = value["answer"]
        chosen = hidden["options"][answer]
        classes = hidden.get("option_classes")
        if classes is not None and hidden.get("truth_class") is not None:
            return {"chosen": chosen, "correct": classes[answer] == hidden["truth_class"]}
        return {"chosen": chosen, "correct": chosen == hidden["truth"]}  # trials planned before

    def straightlining_value(self, scored: Mapping[str, Any]) -> Any:
        return scored.get("said_correct", scored.get("chosen"))

    def practice_feedback(
        self, config: Mapping[str, Any], *, hidden: Mapping[str, Any], scored: Mapping[str, Any]
    ) -> PracticeFeedback:
        """Right means the true class (choose_class) or the correct verdict (verify)."""
        correct = scored.get("correct")
        if correct:
            return PracticeFeedback.right()
        truth = hidden.get("truth")
        if correct is None or not truth:  # no ground truth on record for this image
            return PracticeFeedback(
                None, "Practice answer saved", "Thank you. There is no right answer on record here."
            )
        return PracticeFeedback.wrong(f"The photo shows {truth}.")

    # --- export -------------------------------------------------------------------------------
    def export_columns(self, config: Mapping[str, Any]) -> list[Column]:
        columns = []
        if config["compare"] == "explanation":
            columns.append(
                Column("explanation_shown", "boolean", "1 when the explanation was shown.")
            )
        columns.append(
            Column("method", "string", "Explanation method shown ('none': no explanation).")
        )
        if config["variant"] == "verify":
            columns.append(
                Column("answer", "boolean", "1 when the participant said the model is correct.")
            )
            truth = "1 when the answer agrees with whether the model was correct."
        else:
            columns += [
                Column("chosen_class", "string", "The class the participant chose."),
                Column("n_options", "integer", "Number of classes offered."),
            ]
            truth = "1 when the participant chose the true class."
        columns.append(Column("correct", "boolean", truth))
        if shows_prediction(config):
            columns.append(
                Column(
                    "agrees_with_model",
                    "boolean",
                    "1 when the answer agrees with the model's prediction (said it is correct, "
                    "or chose the predicted class); with model_correct it gives reliance.",
                )
            )
        if config["confidence"]:
            points = int(config["points"])
            columns.append(
                Column(
                    "confidence",
                    "integer",
                    f"Confidence, 1 (not at all) to {points} (completely).",
                    {"minimum": 1, "maximum": points},
                )
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
        row: dict[str, Any] = {"method": hidden["level"], "correct": scored.get("correct")}
        if config["compare"] == "explanation":
            row["explanation_shown"] = bool(hidden["explanation_shown"])
        if config["variant"] == "verify":
            row["answer"] = bool(scored["said_correct"])
        else:
            row["chosen_class"] = scored["chosen"]
            row["n_options"] = len(hidden["options"])
        if shows_prediction(config):
            row["agrees_with_model"] = agrees_with_model(config, hidden=hidden, value=value)
        if config["confidence"]:
            row["confidence"] = value.get("confidence")
        return [row]

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
        """Correct with probability sigmoid(base + effect of the level); ``effects`` keys:
        ``base``, ``explanation`` (any method shown) and method names (log-odds)."""
        options = shown["choice"]["options"]
        value: dict[str, Any] = {}
        if "level" not in hidden:  # an attention check answered at random
            value["answer"] = rng.choice(options)["value"]
            correct = False
        else:
            logit = effects.get("base", 0.0)
            if hidden["explanation_shown"]:
                logit += effects.get("explanation", 0.0) + effects.get(str(hidden["level"]), 0.0)
            correct = bot_is_correct(logit, rng)
            if config["variant"] == "verify":
                model_correct = bool(hidden.get("model_correct"))
                value["answer"] = "yes" if model_correct == correct else "no"
            else:
                truth = hidden.get("truth_position")
                others = [o["value"] for o in options if o["value"] != truth]
                value["answer"] = truth if correct and truth is not None else rng.choice(others)
        if shown.get("items"):
            value["confidence"] = bot_confidence(int(config["points"]), correct, rng)
        return value
