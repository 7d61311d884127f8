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
from typing import TYPE_CHECKING, Any

from explainers import core
from explainers.models import Classifier, Image, ImageSet, Prediction, SaliencyMap
from explainers.services.image_sets import true_classes
from studies.configschema import ConfigError, Option, Schema
from studies.presentations import study_presentations, validate_presentations
from studies.protocols.base import Protocol, StimulusItem

if TYPE_CHECKING:
    from studies.models import Study

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
    ),
    extra_keys=frozenset({"presentations"}),
)


def validate_selection(data: Any, *, protocol: Protocol) -> dict[str, Any]:
    data = dict(data) if isinstance(data, Mapping) else data
    if isinstance(data, dict):
        data.setdefault("images", protocol.default_images)
    clean, errors = SCHEMA.validate(data)
    presentations, problems = validate_presentations(
        data.get("presentations") if isinstance(data, dict) else None
    )
    if problems:
        errors["presentations"] = problems
    else:
        clean["presentations"] = presentations
    methods = clean.get("methods", [])
    if not methods:
        errors.setdefault("methods", []).append("choose at least one explanation method")
    elif len(set(methods)) != len(methods):
        errors.setdefault("methods", []).append("a method is listed twice")
    unknown = [m for m in methods if m not in core.METHODS]
    if unknown:
        # refused here, not when the maps are precomputed for a draft that can never launch
        errors.setdefault("methods", []).append(
            f"unknown method(s): {', '.join(unknown)} (known: {', '.join(sorted(core.METHODS))})"
        )
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
    # Renders (what participants see) per presentation name: how many are needed, and the maps
    # still without one (rendered on the CPU queue from the stored raw maps).
    renders_needed: dict[str, int] = field(default_factory=dict)
    renders_missing: dict[str, list[int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return (
            not self.problems
            and not self.missing_predictions
            and not self.missing_maps
            and not self.n_renders_missing
        )

    @property
    def n_renders_missing(self) -> int:
        return sum(len(ids) for ids in self.renders_missing.values())

    @property
    def n_renders_needed(self) -> int:
        return sum(self.renders_needed.values())

    @property
    def n_renders_ready(self) -> int:
        return self.n_renders_needed - self.n_renders_missing

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
        for name, ids in sorted(self.renders_missing.items()):
            if ids:
                needed = self.renders_needed.get(name, 0)
                out.append(
                    f"{needed - len(ids)} of {needed} stimulus images of presentation {name!r} "
                    "are rendered: the rest are being drawn from the stored maps on the CPU "
                    "workers (the study page shows the progress)"
                )
        return out

    def as_items(self) -> list[StimulusItem]:
        return [StimulusItem.from_data(k, d["item_id"], d) for k, d in enumerate(self.items)]


def _class_name(classifier: Classifier, index: int | None) -> str | None:
    if index is None:
        return None
    names = classifier.class_names or []
    return str(names[index]) if 0 <= index < len(names) else f"class {index}"


def _true_label(classifier: Classifier, image: Image, index: int | None) -> str | None:
    """The true class's name as the classifier spells it, so that it compares with the predicted
    and top classes' names (an image set's labels file may spell the same class differently,
    e.g. "Afghan hound" for the model's "Afghan Hound"). The image's own label is used only when
    the classifier does not name the class; it is kept as ``image_label`` for the export.
    ``index``: the image's true class for ``classifier`` (:func:`true_classes`)."""
    names = classifier.class_names or []
    if index is not None and 0 <= index < len(names):
        return str(names[index])
    return image.label or _class_name(classifier, index)


def check_study_stimuli(study: Study) -> StimuliCheck:
    """:func:`check_stimuli` of a study's own classifier, image set, selection, protocol and
    configuration."""
    from studies.protocols import get_protocol

    return check_stimuli(
        classifier=study.classifier,
        image_set=study.image_set,
        selection=study.stimuli_selection,
        protocol=get_protocol(study.protocol),
        config=study.configuration,
    )


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
    truth = true_classes(classifier, images)  # label names resolved for this classifier
    chosen: list[Image] = []
    for image in images:
        prediction = predictions.get(image.pk)
        if prediction is None:
            check.missing_predictions += 1
            continue
        index = truth[image.pk]
        correct = None if index is None else index == prediction.predicted_class
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
    for row in rows.order_by("id"):  # the newest map of each key wins
        maps[(row.image_id, row.method, row.target_class)] = row
    for image in chosen:
        item = _item(
            classifier,
            image,
            truth[image.pk],
            predictions[image.pk],
            methods,
            maps,
            protocol,
            config,
            check,
        )
        if item is not None:
            check.items.append(item)
    _attach_renders(check, study_presentations(selection))
    if not chosen and not check.missing_predictions:
        check.problems.append(f"no image of {image_set.name!r} matches '{selection['images']}'")
    elif not (check.problems or check.missing_predictions or check.missing_maps):
        check.problems += protocol.check_stimuli(config, check.as_items(), methods=methods)
    return check


def _item(
    classifier: Classifier,
    image: Image,
    truth: int | None,
    prediction: Prediction,
    methods: Sequence[str],
    maps: Mapping[tuple[int, str, int], SaliencyMap],
    protocol: Protocol,
    config: Mapping[str, Any],
    check: StimuliCheck,
) -> dict[str, Any] | None:
    """The stimulus of ``image``; ``truth``: its true class for ``classifier`` (or None)."""
    correct = None if truth is None else truth == prediction.predicted_class
    classes = {"predicted": prediction.predicted_class, "truth": truth}
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
            refs[method][target] = {"id": found.pk}
    if not complete:
        return None
    top = [int(c) for c in prediction.top_classes]
    return {
        "item_id": image.sha256[:16],
        "image_pk": image.pk,
        "image": image.file.name,
        "label": _true_label(classifier, image, truth),
        "image_label": image.label or None,
        "label_index": truth,
        "predicted": prediction.predicted_class,
        "predicted_label": _class_name(classifier, prediction.predicted_class),
        "correct": correct,
        "top_classes": top,
        "top_labels": [_class_name(classifier, c) for c in top],
        "top_probabilities": [float(p) for p in prediction.top_probabilities],
        "maps": refs,
    }


def _attach_renders(check: StimuliCheck, presentations: Sequence[tuple[str, Any]]) -> None:
    """Give every map reference the files of its render under each presentation (one query).

    A reference's ``overlay``/``heatmap`` are the first presentation's files (the only one unless
    presentation is a factor); ``presentations`` holds each one's by name. Maps without a render
    are listed in ``check.renders_missing``.
    """
    from explainers.models import MapRender

    refs = [ref for item in check.items for per in item["maps"].values() for ref in per.values()]
    map_ids = sorted({ref["id"] for ref in refs})
    keys = {p.key: name for name, p in presentations}
    files: dict[tuple[int, str], tuple[str, str]] = {}
    for map_id, key, stimulus, heat in MapRender.objects.filter(
        saliency_map_id__in=map_ids, presentation_key__in=keys
    ).values_list("saliency_map_id", "presentation_key", "image", "heatmap"):
        files[(map_id, keys[key])] = (stimulus, heat)
    for name, _ in presentations:
        check.renders_needed[name] = len(map_ids)
        check.renders_missing[name] = [i for i in map_ids if (i, name) not in files]
    first = presentations[0][0]
    for ref in refs:
        ref["presentations"] = {
            name: dict(zip(("overlay", "heatmap"), files[(ref["id"], name)], strict=True))
            for name, _ in presentations
            if (ref["id"], name) in files
        }
        ref.update(ref["presentations"].get(first, {"overlay": "", "heatmap": ""}))
