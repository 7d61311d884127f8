"""Stimuli from precomputed saliency maps: the selection, its check, and what is missing.

Images are ordered by content hash, so the same image set gives the same order and the same
seeded sample in another lab. For each selected image the protocol says which maps it needs
(the predicted class's, and the true class's for the Likert justification variant); the newest
map of each (method, class) is used.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from explainers.models import Classifier, Image, ImageSet, Prediction, SaliencyMap
from studies.configschema import ConfigError, Option, Schema
from studies.protocols.base import Protocol, StimulusItem

IMAGE_CHOICES = ("all", "misclassified", "correct")

SCHEMA = Schema(
    (
        Option("methods", "strings", [], "Explanation methods"),
        Option(
            "images",
            "choice",
            "all",
            "Images",
            "all, misclassified or correctly classified images of the set.",
            choices=IMAGE_CHOICES,
        ),
        Option(
            "sample",
            "int",
            None,
            "Sample of N images",
            "Empty: every selected image.",
            minimum=1,
            maximum=100000,
            nullable=True,
        ),
        Option("seed", "int", 0, "Sampling seed", minimum=0, maximum=2**31 - 1),
    )
)


def validate_selection(data: Any, *, protocol: Protocol) -> dict[str, Any]:
    data = dict(data) if isinstance(data, Mapping) else data
    if isinstance(data, dict):
        data.setdefault("images", protocol.default_images)
    clean, errors = SCHEMA.validate(data)
    methods = clean.get("methods", [])
    if not methods:
        errors.setdefault("methods", []).append("choose at least one explanation method")
    elif len(set(methods)) != len(methods):
        errors.setdefault("methods", []).append("a method is listed twice")
    if errors:
        raise ConfigError(errors)
    return clean


@dataclass
class StimuliCheck:
    """The stimuli a study would freeze now, and what stops it."""

    items: list[dict[str, Any]] = field(default_factory=list)
    n_candidates: int = 0
    missing_predictions: int = 0
    missing_maps: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.missing_predictions and not self.missing_maps

    @property
    def missing_methods(self) -> list[str]:
        return sorted(self.missing_maps)

    @property
    def missing_targets(self) -> list[str]:
        targets = {t for per in self.missing_maps.values() for t in per}
        return sorted(targets) or ["predicted"]

    def messages(self) -> list[str]:
        out = list(self.problems)
        if self.missing_predictions:
            out.append(f"{self.missing_predictions} image(s) have no prediction yet")
        for method, per_target in sorted(self.missing_maps.items()):
            for target, n in sorted(per_target.items()):
                out.append(f"{n} map(s) of {method} for the {target} class are not precomputed")
        return out

    def as_items(self) -> list[StimulusItem]:
        return [StimulusItem.from_data(k, d["item_id"], d) for k, d in enumerate(self.items)]


def _class_name(classifier: Classifier, index: int | None) -> str | None:
    if index is None:
        return None
    names = classifier.class_names or []
    return str(names[index]) if 0 <= index < len(names) else f"class {index}"


def _true_label(classifier: Classifier, image: Image) -> str | None:
    """The true class's name as the classifier spells it, so that it compares with the predicted
    and top classes' names (an image set's labels file may spell the same class differently,
    e.g. "Afghan hound" for the model's "Afghan Hound"). The image's own label is used only when
    the classifier does not name the class; it is kept as ``image_label`` for the export."""
    names = classifier.class_names or []
    index = image.label_index
    if index is not None and 0 <= index < len(names):
        return str(names[index])
    return image.label or _class_name(classifier, index)


def check_stimuli(
    *,
    classifier: Classifier,
    image_set: ImageSet,
    selection: Mapping[str, Any],
    protocol: Protocol,
    config: Mapping[str, Any],
) -> StimuliCheck:
    """Resolve the selection against what is precomputed (three queries)."""
    check = StimuliCheck()
    images = list(image_set.images.order_by("sha256", "id"))
    predictions = {
        p.image_id: p for p in Prediction.objects.filter(classifier=classifier, image__in=images)
    }
    chosen: list[Image] = []
    for image in images:
        prediction = predictions.get(image.pk)
        if prediction is None:
            check.missing_predictions += 1
            continue
        correct = (
            None if image.label_index is None else image.label_index == prediction.predicted_class
        )
        if selection["images"] == "misclassified" and correct is not False:
            continue
        if selection["images"] == "correct" and correct is not True:
            continue
        chosen.append(image)
    check.n_candidates = len(chosen)
    if selection.get("sample") is not None and selection["sample"] < len(chosen):
        rng = random.Random(selection["seed"])
        chosen = [chosen[k] for k in sorted(rng.sample(range(len(chosen)), selection["sample"]))]
    methods: Sequence[str] = selection["methods"]
    maps: dict[tuple[int, str, int], SaliencyMap] = {}
    rows = SaliencyMap.objects.filter(classifier=classifier, image__in=chosen, method__in=methods)
    style = str(config.get("map_style", "overlay"))  # the rendering the trials will show
    for row in rows.order_by("id"):  # the newest map of each key wins
        if getattr(row, style, None):
            maps[(row.image_id, row.method, row.target_class)] = row
    for image in chosen:
        item = _item(
            classifier, image, predictions[image.pk], methods, maps, protocol, config, check
        )
        if item is not None:
            check.items.append(item)
    if not chosen and not check.missing_predictions:
        check.problems.append(f"no image of {image_set.name!r} matches '{selection['images']}'")
    elif check.ok:
        check.problems += protocol.check_stimuli(config, check.as_items(), methods=methods)
    return check


def _item(
    classifier: Classifier,
    image: Image,
    prediction: Prediction,
    methods: Sequence[str],
    maps: Mapping[tuple[int, str, int], SaliencyMap],
    protocol: Protocol,
    config: Mapping[str, Any],
    check: StimuliCheck,
) -> dict[str, Any] | None:
    correct = None if image.label_index is None else image.label_index == prediction.predicted_class
    classes = {"predicted": prediction.predicted_class, "truth": image.label_index}
    refs: dict[str, dict[str, dict[str, Any]]] = {}
    complete = True
    for method in methods:
        refs[method] = {}
        for target in protocol.targets_for(config, correct=correct):
            index = classes[target]
            found = None if index is None else maps.get((image.pk, method, index))
            if found is None:
                per = check.missing_maps.setdefault(method, {})
                per[target] = per.get(target, 0) + 1
                complete = False
                continue
            refs[method][target] = {
                "id": found.pk,
                "overlay": found.overlay.name or "",
                "heatmap": found.heatmap.name or "",
            }
    if not complete:
        return None
    top = [int(c) for c in prediction.top_classes]
    return {
        "item_id": image.sha256[:16],
        "image_pk": image.pk,
        "image": image.file.name,
        "label": _true_label(classifier, image),
        "image_label": image.label or None,
        "label_index": image.label_index,
        "predicted": prediction.predicted_class,
        "predicted_label": _class_name(classifier, prediction.predicted_class),
        "correct": correct,
        "top_classes": top,
        "top_labels": [_class_name(classifier, c) for c in top],
        "top_probabilities": [float(p) for p in prediction.top_probabilities],
        "maps": refs,
    }
