"""Checks of the tensors handed to ``explain`` and ``faithfulness``, before any computation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from explainers.core.errors import ExplainerInputError

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier


def check_classifier(classifier: Any) -> Classifier:
    from explainers.core.classifier import Classifier

    if not isinstance(classifier, Classifier):
        raise ExplainerInputError(
            "classifier",
            f"expected an explainers.core.Classifier, got {type(classifier).__name__} "
            "(wrap a module with Classifier(module) or use load_classifier(name))",
        )
    return classifier


def check_images(classifier: Classifier, x: Any) -> torch.Tensor:
    """``x`` as an N×3×H×W float32 tensor on the classifier's device (raises naming ``x``)."""
    if not isinstance(x, torch.Tensor):
        raise ExplainerInputError("x", f"expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[0] < 1 or x.shape[1] != 3 or min(x.shape[2:]) < 2:
        raise ExplainerInputError(
            "x", f"expected an N×3×H×W image batch (N ≥ 1), got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise ExplainerInputError("x", f"expected floating-point values, got {x.dtype}")
    x = x.detach().to(device=classifier.device, dtype=torch.float32)
    if not torch.isfinite(x).all():
        raise ExplainerInputError("x", "contains NaN or infinite values")
    return x.contiguous()


def check_targets(
    classifier: Classifier, x: torch.Tensor, targets: Any, *, batch_size: int = 8
) -> torch.Tensor:
    """One class index per image, int64 on the device. None → the model's top-1 class on ``x``;
    an int → that class for every image."""
    n = x.shape[0]
    if targets is None:
        from explainers.core.batching import forward_logits

        return forward_logits(classifier, x, batch_size=batch_size).argmax(dim=1)
    if isinstance(targets, bool):
        raise ExplainerInputError("targets", "expected class indices, got a bool")
    if isinstance(targets, int | np.integer):
        values = [int(targets)] * n
    elif isinstance(targets, torch.Tensor | np.ndarray):
        array = torch.as_tensor(targets)
        if array.dtype.is_floating_point or array.dtype == torch.bool or array.dim() > 1:
            raise ExplainerInputError("targets", "expected integer class indices, one per image")
        values = [int(v) for v in array.reshape(-1).tolist()]
    elif isinstance(targets, Sequence) and not isinstance(targets, str):
        if not all(isinstance(t, int | np.integer) and not isinstance(t, bool) for t in targets):
            raise ExplainerInputError("targets", "expected integer class indices, one per image")
        values = [int(t) for t in targets]
    else:
        raise ExplainerInputError(
            "targets", f"expected class indices, got {type(targets).__name__}"
        )
    if len(values) != n:
        raise ExplainerInputError("targets", f"{len(values)} targets for {n} images")
    bad = [v for v in values if not 0 <= v < classifier.num_classes]
    if bad:
        raise ExplainerInputError(
            "targets", f"class {bad[0]} is out of range [0, {classifier.num_classes})"
        )
    return torch.tensor(values, dtype=torch.long, device=classifier.device)


def check_saliency(x: torch.Tensor, saliency: Any) -> torch.Tensor:
    """Saliency maps as an N×h×w float32 tensor on ``x``'s device (raises naming ``saliency``)."""
    if isinstance(saliency, np.ndarray):
        saliency = torch.from_numpy(np.ascontiguousarray(saliency))
    if not isinstance(saliency, torch.Tensor):
        raise ExplainerInputError(
            "saliency", f"expected a tensor of N×h×w maps, got {type(saliency).__name__}"
        )
    n, _, height, width = x.shape
    if saliency.dim() != 3 or saliency.shape[0] != n:
        raise ExplainerInputError(
            "saliency", f"expected {n}×h×w maps for {n} images, got shape {tuple(saliency.shape)}"
        )
    if saliency.shape[1] > height or saliency.shape[2] > width or min(saliency.shape[1:]) < 1:
        raise ExplainerInputError(
            "saliency", f"maps of {tuple(saliency.shape[1:])} do not fit images of {height}×{width}"
        )
    if saliency.dtype == torch.bool or saliency.is_complex():
        raise ExplainerInputError("saliency", f"expected real values, got {saliency.dtype}")
    saliency = saliency.detach().to(device=x.device, dtype=torch.float32)
    if not torch.isfinite(saliency).all():
        raise ExplainerInputError("saliency", "contains NaN or infinite values")
    return saliency.contiguous()
