"""Kernel SHAP — Lundberg & Lee 2017, "A unified approach to interpreting model predictions"
(NeurIPS), Theorem 2, on the same SLIC superpixels as ``lime``.

Features and perturbations as in ``lime`` (:mod:`._superpixels`): ``h(z)`` keeps the superpixels
with ``z_j = 1`` and sets the others to ``baseline``. The Shapley kernel
``π(z) = (M − 1) / (C(M, |z|)·|z|·(M − |z|))`` is applied by sampling: coalition sizes
``k ∈ {1 … M−1}`` with ``p(k) ∝ (M − 1)/(k(M − k))``, a uniform subset of each size, every
sample with weight 1 (as Captum). The infinite weights of the empty and full coalitions are the
constraints ``φ₀ = f(∅)`` and ``Σ_j φ_j = f(x) − f(∅)`` (local accuracy), enforced exactly by
eliminating one variable (Captum approximates them with weight 10⁶).

``n_samples`` counts every model evaluation per image: the full and empty coalitions plus
``n_samples − 2`` draws. Samples are drawn from ``seed`` per image; copies of all images share
forward passes. Input: N×3×H×W; result: N×H×W, ``φ_j`` painted on superpixel ``j`` (signed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from explainers.core.methods._superpixels import (
    SuperpixelExplainer,
    paint,
    sample_scores,
    shapley_fit,
    shapley_samples,
    superpixel_options,
)
from explainers.core.registry import register_method

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier


def coalitions(n_features: int, n_samples: int, seed: int) -> torch.Tensor:
    """``n_samples×M``: the full coalition, the empty one, then Shapley-kernel draws."""
    generator = torch.Generator().manual_seed(seed)
    ends = torch.stack([torch.ones(n_features), torch.zeros(n_features)])
    if n_features < 2:
        return torch.cat([ends, torch.ones(n_samples - 2, n_features)])
    return torch.cat([ends, shapley_samples(n_features, n_samples - 2, generator)])


@register_method
class KernelShap(SuperpixelExplainer):
    name = "kernelshap"
    description = (
        "Kernel SHAP: Shapley values of SLIC superpixels estimated by a regression with the "
        "Shapley kernel and exact local accuracy (black box)."
    )
    citation = (
        "Lundberg & Lee (2017). A unified approach to interpreting model predictions. NeurIPS"
    )
    family = "perturbation"
    resolution = "input"
    score = "probability"
    stochastic = True
    options = superpixel_options(n_samples=1000)

    def attribute(
        self,
        classifier: Classifier,
        x: torch.Tensor,
        targets: torch.Tensor,
        *,
        seed: int,
        options: Mapping[str, Any],
    ) -> torch.Tensor:
        segments = self.segments(classifier, x, options)
        samples = [coalitions(int(s.max()) + 1, options["n_samples"], seed) for s in segments]
        scores = sample_scores(classifier, x, targets, segments, samples, options)
        maps = []
        for i, (labels, z) in enumerate(zip(segments, samples, strict=True)):
            y = scores[:, i]
            phi = shapley_fit(z[2:], y[2:], full=float(y[0]), empty=float(y[1]))
            maps.append(paint(labels, phi))
        return torch.stack(maps)
