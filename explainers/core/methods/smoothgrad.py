"""SmoothGrad — Smilkov et al. 2017.

``S_ij = max_c (1/n) Σ_s |∂y_c/∂x_c,ij (x + ε_s)|``, ``ε_s ~ N(0, σ²)``,
``σ = 0.15·(max x − min x)`` (the image's range in model space), ``n = 50`` noisy copies by
default. The noise is drawn per
seed and shared by every image (:mod:`explainers.core.methods.noise`).
Input: N×3×H×W; result: N×H×W.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from explainers.core.methods.base import Explainer
from explainers.core.methods.noise import noise_options, noisy_gradient_moments
from explainers.core.registry import register_method

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier


@register_method
class SmoothGrad(Explainer):
    name = "smoothgrad"
    description = (
        "SmoothGrad: mean of |∂y_c/∂x| over noisy copies (σ = 0.15 of the image's range); "
        "max over colour channels."
    )
    citation = (
        "Smilkov, Thorat, Kim, Viégas & Wattenberg (2017). SmoothGrad: removing noise by adding "
        "noise. arXiv:1706.03825"
    )
    family = "backprop"
    resolution = "input"
    score = "logit"
    stochastic = True
    options = noise_options()

    def attribute(
        self,
        classifier: Classifier,
        x: torch.Tensor,
        targets: torch.Tensor,
        *,
        seed: int,
        options: Mapping[str, Any],
    ) -> torch.Tensor:
        mean_abs = noisy_gradient_moments(
            classifier,
            x,
            targets,
            seed=seed,
            n_samples=options["n_samples"],
            noise_level=options["noise_level"],
            score=options["score"],
            batch_size=options["batch_size"],
            variance=False,
        )
        return mean_abs.amax(dim=1)
