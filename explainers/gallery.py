"""Read path of the saliency gallery: an image set's maps side by side by method, with scores.

One page holds a few images; for each image, one map per method (for the model's predicted class
unless the researcher asks for the ground-truth class), drawn under the presentation convention
the researcher chooses, and that map's faithfulness scores. Above
the images, each method's mean score per metric over the whole image set. A fixed number of
queries per page, whatever the number of images or methods.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Avg, Count, F, QuerySet

from explainers.core.render import DEFAULT, PRESETS, Presentation
from explainers.models import (
    Classifier,
    FaithfulnessScore,
    Image,
    ImageSet,
    Prediction,
    SaliencyMap,
)
from explainers.services.image_sets import true_classes
from explainers.services.rendering import presentation_query

PER_PAGE = 8
SHOW_CHOICES = ("all", "misclassified", "correct")
TARGET_CHOICES = ("predicted", "truth")
# Higher is better for every metric but deletion AUC and Average Drop (Petsiuk et al. 2018;
# Chattopadhay et al. 2018): the gallery says so next to each metric.
LOWER_IS_BETTER = frozenset({"dauc", "dc", "ad"})


class GalleryError(ValueError):
    """A filter that names nothing this researcher can see; the message says which."""


@dataclass
class Cell:
    method: str
    map: SaliencyMap | None
    scores: dict[str, float | None] = field(default_factory=dict)


@dataclass
class Row:
    image: Image
    prediction: Prediction | None
    predicted_name: str
    cells: list[Cell]
    truth: int | None = None  # the image's true class for the gallery's classifier

    @property
    def correct(self) -> bool | None:
        if self.prediction is None or self.truth is None:
            return None
        return self.prediction.predicted_class == self.truth


@dataclass
class Gallery:
    classifier: Classifier
    image_set: ImageSet
    methods: list[str]
    metrics: list[str]
    means: dict[str, dict[str, float | None]]
    rows: list[Row]
    page: Page[Any]
    show: str
    target: str
    presentation: Presentation = DEFAULT
    lower_is_better: frozenset[str] = LOWER_IS_BETTER

    @property
    def preset(self) -> str:
        """The preset's name when the presentation is one, else ""."""
        return next((n for n, p in PRESETS.items() if p == self.presentation), "")

    @property
    def presentation_query(self) -> str:
        """The maps' URL query that draws them under the presentation."""
        return f"preset={self.preset}" if self.preset else presentation_query(self.presentation)


def gallery_sources(user: Any) -> list[tuple[Classifier, ImageSet, int]]:
    """(classifier, image set, maps) pairs with maps this user may see, most maps first."""
    classifiers = {c.pk: c for c in Classifier.objects.visible_to(user)}
    image_sets = {s.pk: s for s in ImageSet.objects.visible_to(user)}
    rows = (
        SaliencyMap.objects.filter(classifier__in=classifiers, image__image_set__in=image_sets)
        .values("classifier_id", "image__image_set_id")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    return [
        (classifiers[r["classifier_id"]], image_sets[r["image__image_set_id"]], r["n"])
        for r in rows
    ]


def _choose(
    user: Any, classifier_uid: str, image_set_uid: str
) -> tuple[Classifier, ImageSet] | None:
    sources = gallery_sources(user)
    if not classifier_uid and not image_set_uid:
        return (sources[0][0], sources[0][1]) if sources else None
    for classifier, image_set, _ in sources:
        if str(classifier.uid) == classifier_uid and str(image_set.uid) == image_set_uid:
            return classifier, image_set
    raise GalleryError("no precomputed maps for that classifier and image set (or no access)")


def gallery_page(
    *,
    user: Any,
    classifier_uid: str = "",
    image_set_uid: str = "",
    show: str = "all",
    target: str = "predicted",
    page: str | int = 1,
    presentation: Presentation = DEFAULT,
) -> Gallery | None:
    """The gallery for the chosen (or the fullest) source; None when the user has no maps."""
    if show not in SHOW_CHOICES:
        raise GalleryError(f"show: choose one of {', '.join(SHOW_CHOICES)}")
    if target not in TARGET_CHOICES:
        raise GalleryError(f"target: choose one of {', '.join(TARGET_CHOICES)}")
    chosen = _choose(user, classifier_uid, image_set_uid)
    if chosen is None:
        return None
    classifier, image_set = chosen
    maps = SaliencyMap.objects.filter(classifier=classifier, image__image_set=image_set)
    methods = sorted(set(maps.values_list("method", flat=True)))
    scores = FaithfulnessScore.objects.filter(saliency_map__in=maps)
    metrics = sorted(set(scores.values_list("metric", flat=True)))
    means: dict[str, dict[str, float | None]] = defaultdict(dict)
    for r in scores.values("saliency_map__method", "metric").annotate(mean=Avg("value")):
        means[r["saliency_map__method"]][r["metric"]] = r["mean"]

    images = image_set.images.order_by("id")
    if show != "all":  # label names resolve per classifier (true_classes): compared here
        truth = true_classes(classifier, image_set.images.only("id", "label", "label_index"))
        predicted = dict(
            Prediction.objects.filter(
                classifier=classifier, image__image_set=image_set
            ).values_list("image_id", "predicted_class")
        )
        chosen_ids = [
            pk
            for pk, index in truth.items()
            if index is not None
            and pk in predicted
            and (predicted[pk] == index) == (show == "correct")
        ]
        images = images.filter(pk__in=chosen_ids)
    paginator = Paginator(images, PER_PAGE)
    page_obj = paginator.get_page(page)
    page_images = list(page_obj.object_list)
    predictions = {
        p.image_id: p
        for p in Prediction.objects.filter(classifier=classifier, image__in=page_images)
    }
    page_maps = list(maps.filter(image__in=page_images))
    map_scores: dict[int, dict[str, float | None]] = defaultdict(dict)
    for s in FaithfulnessScore.objects.filter(saliency_map__in=page_maps):
        map_scores[s.saliency_map_id][s.metric] = s.value
    by_key: dict[tuple[int, str, int], SaliencyMap] = {}
    for m in page_maps:
        by_key.setdefault((m.image_id, m.method, m.target_class), m)
    page_truth = true_classes(classifier, page_images)
    rows = []
    for image in page_images:
        prediction = predictions.get(image.pk)
        if target == "truth":
            wanted = page_truth[image.pk]
        else:
            wanted = prediction.predicted_class if prediction is not None else None
        cells = []
        for method in methods:
            found = by_key.get((image.pk, method, wanted)) if wanted is not None else None
            cells.append(Cell(method, found, map_scores.get(found.pk, {}) if found else {}))
        name = ""
        if prediction is not None and 0 <= prediction.predicted_class < len(classifier.class_names):
            name = classifier.class_names[prediction.predicted_class]
        rows.append(Row(image, prediction, name, cells, page_truth[image.pk]))
    return Gallery(
        classifier,
        image_set,
        methods,
        metrics,
        dict(means),
        rows,
        page_obj,
        show,
        target,
        presentation,
    )


def presentation_sample_maps(
    *, maps: QuerySet[SaliencyMap], classifier_id: int, image_set_id: int, methods: list[str]
) -> list[SaliencyMap]:
    """One image's maps for the predicted class, one per method, from the image that has the
    most of ``methods`` (the first such image by id): a preview of a presentation."""
    rows = list(
        maps.filter(
            classifier_id=classifier_id, image__image_set_id=image_set_id, method__in=methods
        )
        .filter(
            image__predictions__classifier_id=classifier_id,
            target_class=F("image__predictions__predicted_class"),
        )
        .order_by("image_id", "id")[:2000]
    )
    by_image: dict[int, dict[str, SaliencyMap]] = defaultdict(dict)
    for row in rows:
        by_image[row.image_id].setdefault(row.method, row)
    if not by_image:
        return []
    best = max(by_image.values(), key=len)
    return [best[m] for m in methods if m in best]
