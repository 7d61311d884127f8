"""VarGrad — Adebayo et al. 2018.

``S_ij = max_c Var_s[∂y_c/∂x_c,ij (x + ε_s)]``: the (population, 1/n) variance of the signed
input gradient over the same noisy copies as SmoothGrad (``n = 50``, ``σ = 0.15·(max − min)``).
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
class VarGrad(Explainer):
    name = "vargrad"
    description = (
        "VarGrad: variance of the signed input gradient over noisy copies (as SmoothGrad); "
        "max over colour channels."
    )
    citation = (
        "Adebayo, Gilmer, Goodfellow & Kim (2018). Local explanation methods for deep neural "
        "networks lack sensitivity to parameter values. ICLR workshop, arXiv:1810.03307"
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
        variance = noisy_gradient_moments(
            classifier,
            x,
            targets,
            seed=seed,
            n_samples=options["n_samples"],
            noise_level=options["noise_level"],
            score=options["score"],
            batch_size=options["batch_size"],
            variance=True,
        )
        return variance.amax(dim=1)
