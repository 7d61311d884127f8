"""Guided backpropagation — Springenberg et al. 2015.

The backward pass through every ReLU (``nn.ReLU``; ``nn.ReLU6`` likewise, active on (0, 6))
passes only positive gradients through active units: ``R_in = max(R_out, 0) · 1[0 < a < u]``.
The input gradient obtained this way is reduced by ``max_c |·|``. Input: N×3×H×W; result:
N×H×W. Only activations that are modules can be rewritten; a model without any is rejected.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from explainers.core.methods.backprop import (
    backprop_options,
    batched_input_gradients,
    max_abs_over_channels,
    require_relu,
)
from explainers.core.methods.base import Explainer
from explainers.core.registry import register_method

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier


@register_method
class GuidedBackprop(Explainer):
    name = "guided_backprop"
    description = (
        "Guided backpropagation: ReLUs pass only positive gradients of active units; "
        "max over colour channels of the absolute result."
    )
    citation = (
        "Springenberg, Dosovitskiy, Brox & Riedmiller (2015). Striving for simplicity: the all "
        "convolutional net. ICLR workshop, arXiv:1412.6806"
    )
    family = "backprop"
    resolution = "input"
    score = "logit"
    options = backprop_options()

    def check(self, classifier: Classifier, x: torch.Tensor, options: Mapping[str, Any]) -> None:
        require_relu(classifier)

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
            classifier,
            x,
            targets,
            score=options["score"],
            batch_size=options["batch_size"],
            guided=True,
        )
        return max_abs_over_channels(gradients)
