"""Single-step metrics: the saliency map as a soft mask — IIC, AD (Chattopadhyay et al. 2018)
and ADD (Jung & Oh 2021).

The mask is ``m = clip(upsample(norm(S)), 0, 1)``: min–max normalised PER IMAGE (the reference
code normalised over the whole batch, so an image's score depended on its batch: a defect, not
reproduced), bicubic upsampling to H×W (``align_corners=False``), clipped to [0, 1] (bicubic
overshoots). With ``y = y_c(x)`` (softmax probability by default):

- IIC = ``1[y_c(x ⊙ m) > y]`` (1.0 or 0.0);
- AD = ``max(y − y_c(x ⊙ m), 0) / y``;
- ADD = ``(y − y_c(x ⊙ (1 − m))) / y`` (not clipped).

``x ⊙ m`` is 0 in model space where the mask is 0. A constant map has no normalisation: NaN.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from explainers.core.batching import score_items
from explainers.core.metrics.base import Metric
from explainers.core.perturbation import minmax_normalize, upsample
from explainers.core.registry import (
    Option,
    autocast_option,
    batch_size_option,
    register_metric,
    score_option,
)

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier

CHATTOPADHYAY = (
    "Chattopadhyay, Sarkar, Howlader & Balasubramanian (2018). Grad-CAM++: generalized "
    "gradient-based visual explanations for deep convolutional networks. WACV"
)
JUNG = (
    "Jung & Oh (2021). Towards better explanations of class activation mapping. ICCV "
    "(LIFT-CAM; average drop in deletion)"
)


def soft_masks(
    saliency: torch.Tensor, size: tuple[int, int], mode: str = "bicubic"
) -> tuple[torch.Tensor, torch.Tensor]:
    """N×H×W masks ``clip(upsample(norm(S)), 0, 1)`` and the N flags of constant maps."""
    normalised, constant = minmax_normalize(saliency)
    return upsample(normalised, size, mode).clamp(0.0, 1.0), constant


def single_step_options() -> dict[str, Option]:
    return {
        "score": score_option("probability"),
        "upsampling": Option(
            "bicubic",
            (str,),
            "interpolation of the mask to the input size",
            choices=("bicubic", "bilinear", "nearest"),
        ),
        "batch_size": batch_size_option(8),
        "autocast": autocast_option(),
    }


class SingleStepMetric(Metric):
    kind = "single_step"
    #: Mask with ``1 − m`` (the salient regions removed) instead of ``m``.
    inverted: ClassVar[bool] = False

    def compute(
        self,
        classifier: Classifier,
        x: torch.Tensor,
        saliency: torch.Tensor,
        targets: torch.Tensor,
        options: Mapping[str, Any],
    ) -> torch.Tensor:
        masks, constant = soft_masks(saliency, (x.shape[2], x.shape[3]), options["upsampling"])
        if self.inverted:
            masks = 1.0 - masks
        run = {
            "score": options["score"],
            "batch_size": options["batch_size"],
            "autocast": options["autocast"],
        }
        original = score_items(classifier, x.shape[0], lambda p: (x[p], targets[p]), **run)
        masked = score_items(
            classifier,
            x.shape[0],
            lambda p: (x[p] * masks[p].unsqueeze(1), targets[p]),
            **run,
        )
        values = self.value(original.double(), masked.double())
        return values.masked_fill(constant, float("nan")).float().cpu()

    def value(self, original: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@register_metric
class Iic(SingleStepMetric):
    name = "iic"
    description = (
        "Increase in confidence: 1 when keeping only the salient regions raises the class "
        "score, else 0 (higher is better)."
    )
    citation = CHATTOPADHYAY
    higher_is_better = True
    options = single_step_options()

    def value(self, original: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        return (masked > original).double()


@register_metric
class Ad(SingleStepMetric):
    name = "ad"
    description = (
        "Average drop: relative drop of the class score when only the salient regions are "
        "kept, clipped at 0 (lower is better)."
    )
    citation = CHATTOPADHYAY
    higher_is_better = False
    options = single_step_options()

    def value(self, original: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        return (original - masked).clamp(min=0) / original


@register_metric
class Add(SingleStepMetric):
    name = "add"
    description = (
        "Average drop in deletion: relative drop of the class score when the salient regions "
        "are removed (higher is better)."
    )
    citation = JUNG
    higher_is_better = True
    inverted = True
    options = single_step_options()

    def value(self, original: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
        return (original - masked) / original
