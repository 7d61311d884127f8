"""What the black-box (perturbation) methods share: common options and the original scores.

RISE, occlusion, LIME, Kernel SHAP and DE-CAM only read the model's output ``y_c`` (the softmax
probability by default, METHODS.md) on perturbed copies of the input, scored ``batch_size`` at a
time by :func:`explainers.core.batching.score_items` (copies of several images share a batch).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from explainers.core.batching import BuildItems, score_items
from explainers.core.registry import Option, autocast_option, batch_size_option, score_option

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier

#: Default inputs per forward pass: plain inference peaks at batches of 8–16 (DESIGN.md).
BATCH_SIZE = 16


def blackbox_options(batch_size: int = BATCH_SIZE) -> dict[str, Option]:
    """``score`` (probability by default), ``batch_size`` and ``autocast``."""
    return {
        "score": score_option("probability"),
        "batch_size": batch_size_option(batch_size),
        "autocast": autocast_option(),
    }


def baseline_option() -> dict[str, Option]:
    """The model-space value that replaces removed pixels (0: the data set's mean colour)."""
    return {
        "baseline": Option(
            0.0, (float,), "model-space value of removed pixels (0: the mean colour, a grey)"
        )
    }


def score(
    classifier: Classifier, total: int, build: BuildItems, options: Mapping[str, Any]
) -> torch.Tensor:
    """:func:`~explainers.core.batching.score_items` with the method's ``score``,
    ``batch_size`` and ``autocast`` options: ``total`` scores, float32, on the device."""
    return score_items(
        classifier,
        total,
        build,
        score=str(options["score"]),
        batch_size=int(options["batch_size"]),
        autocast=bool(options["autocast"]),
    )


def original_scores(
    classifier: Classifier, x: torch.Tensor, targets: torch.Tensor, options: Mapping[str, Any]
) -> torch.Tensor:
    """``y_c(x)`` of each unperturbed image (N, float32, on the classifier's device)."""

    def build(part: slice) -> tuple[torch.Tensor, torch.Tensor]:
        return x[part], targets[part]

    return score(classifier, x.shape[0], build, options)
