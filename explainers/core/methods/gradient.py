"""Vanilla gradient — Simonyan, Vedaldi & Zisserman 2013.

``S_ij = max_c |∂y_c/∂x_{c,ij}|`` — the absolute gradient of the class score with respect to the
input, reduced by the maximum over colour channels. Input: N×3×H×W; result: N×H×W.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from explainers.core.methods.backprop import (
    backprop_options,
    batched_input_gradients,
    max_abs_over_channels,
)
from explainers.core.methods.base import Explainer
from explainers.core.registry import register_method

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier


@register_method
class Gradient(Explainer):
    name = "gradient"
    description = "Vanilla gradient: max over colour channels of |∂y_c/∂x| (input resolution)."
    citation = (
        "Simonyan, Vedaldi & Zisserman (2013). Deep inside convolutional networks: visualising "
        "image classification models and saliency maps. arXiv:1312.6034"
    )
    family = "backprop"
    resolution = "input"
    score = "logit"
    options = backprop_options()

    def attribute(
        self,
        classifier: Classifier,
        x: torch.Tensor,
        targets: torch.Tensor,
        *,
        seed: int,
        options: Mapping[str, Any],
    ) -> torch.Tensor:
        gradients = batched_input_gradients(
            classifier, x, targets, score=options["score"], batch_size=options["batch_size"]
        )
        return max_abs_over_channels(gradients)
