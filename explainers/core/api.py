"""The two entry points: :func:`explain` (saliency maps) and :func:`faithfulness` (metrics).

Both validate everything (method or metric, options, seed, classifier, images, explicit targets,
then the method's own preconditions, which may run a probe pass) before computing anything, and
return float32 CPU tensors. ``targets=None`` (the top-1 class) needs a forward pass: it runs
after every check.
"""

from __future__ import annotations

from typing import Any

import torch

from explainers.core.errors import ExplainerInputError
from explainers.core.registry import check_seed, method_spec, metric_spec
from explainers.core.validation import (
    check_classifier,
    check_images,
    check_saliency,
    check_targets,
)


def explain(
    classifier: Any,
    x: torch.Tensor,
    method: str,
    targets: Any = None,
    seed: int = 0,
    **options: Any,
) -> torch.Tensor:
    """Saliency maps of ``method`` for images ``x`` (N×3×H×W, model space).

    Args:
        classifier: an :class:`explainers.core.Classifier`.
        x: the images, as returned by ``classifier.preprocess``.
        method: a key of :data:`explainers.core.METHODS`.
        targets: the class explained per image: None (the model's top-1 class), an int (the same
            class for all), or N ints.
        seed: seed of every random draw (stochastic methods); same seed → same map.
        options: the method's options (see ``METHODS[method].defaults``); unknown names or bad
            values raise :class:`ExplainerInputError` naming the option.

    Returns:
        float32 CPU tensor N×h×w: h×w = H×W for the backpropagation family, the target layer's
        feature-map size for the CAM family. Not normalised, not upsampled.
    """
    spec = method_spec(method)
    resolved = spec.resolve(options)
    seed = check_seed(seed)
    classifier = check_classifier(classifier)
    if reason := classifier.unsupported_methods().get(method):
        raise ExplainerInputError("method", f"{method!r} cannot run on {classifier.name}: {reason}")
    x = check_images(classifier, x)
    assert spec.implementation is not None
    implementation = spec.implementation()
    batch_size = int(resolved.get("batch_size", 8))
    # Explicit targets are checked first: the method's check may run a probe pass (a CAM
    # method's target_layer option). targets=None needs a forward pass: after the check.
    labels = None if targets is None else check_targets(classifier, x, targets)
    implementation.check(classifier, x, resolved)
    if labels is None:
        labels = check_targets(classifier, x, None, batch_size=batch_size)
    maps = implementation.attribute(classifier, x, labels, seed=seed, options=resolved)
    return maps.detach().to(device="cpu", dtype=torch.float32).contiguous()


def faithfulness(
    classifier: Any,
    x: torch.Tensor,
    saliency: Any,
    metric: str,
    targets: Any = None,
    **options: Any,
) -> torch.Tensor:
    """Per-image values of faithfulness ``metric`` for saliency maps of images ``x``.

    Args:
        classifier: an :class:`explainers.core.Classifier`.
        x: the images (N×3×H×W, model space).
        saliency: N×h×w maps (tensor or array; h ≤ H, w ≤ W), e.g. the output of :func:`explain`.
        metric: a key of :data:`explainers.core.METRICS`.
        targets: the class measured per image: None (the model's top-1 class on ``x``), an int,
            or N ints. Always a class of the original image.
        options: the metric's options (see ``METRICS[metric].defaults``).

    Returns:
        float32 CPU tensor of N values, NaN where the metric is undefined for an image (e.g. a
        constant map for ``dc``). Means and intervals are for the analysis layer.
    """
    spec = metric_spec(metric)
    resolved = spec.resolve(options)
    classifier = check_classifier(classifier)
    x = check_images(classifier, x)
    maps = check_saliency(x, saliency)
    assert spec.implementation is not None
    implementation = spec.implementation()
    labels = None if targets is None else check_targets(classifier, x, targets)
    implementation.check(classifier, x, resolved)
    if labels is None:
        labels = check_targets(classifier, x, None, batch_size=int(resolved.get("batch_size", 8)))
    values = implementation.compute(classifier, x, maps, labels, resolved)
    return values.detach().to(device="cpu", dtype=torch.float32).contiguous()
