"""The compute step of a precompute unit: one batched call of ``explainers.core`` per target set.

It stores raw maps, predictions and scores only: drawing maps for people is CPU work, done from
the stored raw maps by ``explainers.services.rendering`` on the default queue.

Only what is missing is computed: predictions per (image, classifier), maps per (image,
classifier, method, target class, parameter hash), scores per (map, metric, parameter hash).
"""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from PIL import ImageOps

from explainers.models import Classifier, FaithfulnessScore, Image, Prediction, SaliencyMap
from explainers.runtime import core_classifier, model_inputs
from explainers.services import map_storage
from explainers.services.image_sets import true_classes
from explainers.services.image_validation import ALLOWED_FORMATS
from explainers.services.parameters import (
    canonical_hash,
    metric_parameters,
    parameters_for,
    runtime_options,
)


def _open_rgb(image: Image) -> PILImage.Image:
    """The stored image as RGB, upright, decoded by an accepted format's plugin only.

    Images are stored upright at import; the EXIF turn here only concerns files stored before.
    """
    with default_storage.open(str(image.file.name), "rb") as handle:
        picture = PILImage.open(handle, formats=list(ALLOWED_FORMATS))
        picture.load()
    return ImageOps.exif_transpose(picture).convert("RGB")


def _versions() -> dict[str, str]:
    import torch

    import explainers.core as core

    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "explainers.core": str(getattr(core, "__version__", "1")),
    }


def ensure_predictions(
    classifier: Classifier, images: Sequence[Image], *, top_k: int = 5
) -> dict[int, Prediction]:
    """Top-k predictions of ``classifier`` for ``images``, computing the missing ones in a batch."""
    import torch

    from explainers.services.result_storage import predictions_save

    existing = {
        p.image_id: p for p in Prediction.objects.filter(classifier=classifier, image__in=images)
    }
    missing = [image for image in images if image.pk not in existing]
    if missing:
        clf = core_classifier(classifier)
        _, x = model_inputs(classifier, missing, _open_rgb)
        probabilities = clf.probabilities(x).float().cpu()
        values, indices = torch.topk(probabilities, k=min(top_k, probabilities.shape[1]), dim=1)
        predictions_save(
            [
                Prediction(
                    image=image,
                    classifier=classifier,
                    top_classes=indices[i].tolist(),
                    top_probabilities=[round(v, 6) for v in values[i].tolist()],
                    predicted_class=int(indices[i, 0]),
                    probability=float(values[i, 0]),
                )
                for i, image in enumerate(missing)
            ]
        )
        existing = {
            p.image_id: p
            for p in Prediction.objects.filter(classifier=classifier, image__in=images)
        }
    return existing


def _targets(
    classifier: Classifier,
    images: Sequence[Image],
    predictions: dict[int, Prediction],
    kinds: Sequence[str],
) -> list[tuple[Image, int]]:
    truth = true_classes(classifier, images) if "truth" in kinds else {}
    pairs: dict[tuple[int, int], tuple[Image, int]] = {}
    for image in images:
        if "predicted" in kinds:
            cls = predictions[image.pk].predicted_class
            pairs[(image.pk, cls)] = (image, cls)
        if (index := truth.get(image.pk)) is not None:
            pairs[(image.pk, index)] = (image, index)
    return list(pairs.values())


def compute_maps_and_scores(
    *,
    classifier: Classifier,
    images: Sequence[Image],
    predictions: dict[int, Prediction],
    method: str,
    options: dict[str, Any],
    targets: Sequence[str],
    metrics: Sequence[str],
) -> tuple[int, int]:
    """Compute the missing maps, then the missing scores, for one method on a batch of images."""

    from explainers import core
    from explainers.services.result_storage import save_map_rows, save_scores

    parameters = parameters_for(method, options)
    parameters_hash = canonical_hash(parameters)
    runtime = runtime_options(method, options)  # batch_size etc.: not part of the map's identity
    wanted = _targets(classifier, images, predictions, targets)
    done = set(
        SaliencyMap.objects.filter(
            classifier=classifier,
            method=method,
            parameters_hash=parameters_hash,
            image__in=images,
        ).values_list("image_id", "target_class")
    )
    todo = [(image, cls) for image, cls in wanted if (image.pk, cls) not in done]
    clf = core_classifier(classifier)
    created = 0
    if todo:
        # the picture a map is drawn on is made later, from the raw map, on the CPU queue
        _, x = model_inputs(classifier, [image for image, _ in todo], _open_rgb)
        started = time.perf_counter()
        maps = core.explain(
            clf, x, method, targets=[cls for _, cls in todo], **parameters, **runtime
        ).numpy()
        seconds = (time.perf_counter() - started) / len(todo)
        versions = _versions()
        device = str(getattr(clf, "device", "cpu"))
        rows = []
        for (image, cls), saliency in zip(todo, maps, strict=True):
            stem = map_storage.opaque_name(image.uid, classifier.uid, method, cls, parameters_hash)
            rows.append(
                SaliencyMap(
                    image=image,
                    classifier=classifier,
                    method=method,
                    target_class=cls,
                    parameters=parameters,
                    parameters_hash=parameters_hash,
                    raw=map_storage.save_bytes(
                        "maps/raw", "npy", map_storage.encode_raw(saliency), stem
                    ),
                    height=saliency.shape[0],
                    width=saliency.shape[1],
                    device=device,
                    seconds=seconds,
                    versions=versions,
                )
            )
        created = save_map_rows(rows)
    scores = _compute_missing_scores(clf, classifier, method, parameters_hash, images, metrics)
    return created, save_scores(scores) if scores else 0


def _compute_missing_scores(
    clf: Any,
    classifier: Classifier,
    method: str,
    parameters_hash: str,
    images: Sequence[Image],
    metrics: Sequence[str],
) -> list[FaithfulnessScore]:
    import torch

    from explainers import core

    if not metrics:
        return []
    maps = list(
        SaliencyMap.objects.filter(
            classifier=classifier, method=method, parameters_hash=parameters_hash, image__in=images
        ).select_related("image")
    )
    rows: list[FaithfulnessScore] = []
    for metric in metrics:
        params = metric_parameters(metric)
        params_hash = canonical_hash(params)
        scored = set(
            FaithfulnessScore.objects.filter(
                saliency_map__in=maps, metric=metric, parameters_hash=params_hash
            ).values_list("saliency_map_id", flat=True)
        )
        todo = [m for m in maps if m.pk not in scored]
        if not todo:
            continue
        _, x = model_inputs(classifier, [m.image for m in todo], _open_rgb)
        saliency = torch.from_numpy(np.stack([map_storage.load_raw(str(m.raw.name)) for m in todo]))
        values = core.faithfulness(
            clf, x, saliency, metric, targets=[m.target_class for m in todo]
        ).tolist()
        rows += [
            FaithfulnessScore(
                saliency_map=m,
                metric=metric,
                value=None if np.isnan(v) else float(v),
                parameters=params,
                parameters_hash=params_hash,
            )
            for m, v in zip(todo, values, strict=True)
        ]
    return rows
