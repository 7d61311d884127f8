"""LIME — Ribeiro, Singh & Guestrin 2016, "'Why should I trust you?': explaining the predictions
of any classifier" (KDD), Eqs. 1–3 and §3.3–3.4, on SLIC superpixels.

Features: the ``M`` SLIC superpixels of the image (:mod:`._superpixels`); a sample
``z ∈ {0, 1}^M`` keeps the superpixels where ``z_j = 1`` and sets the others to ``baseline``
(0 in model space: a grey). Samples: the image itself, then ``n_samples − 1`` draws whose number
of kept superpixels is uniform in ``{1 … M}`` (§3.3). Each sample is weighted by the exponential
kernel of Eq. 3 (METHODS.md), ``π(z) = exp(−D(1, z)²/σ²)`` with ``σ = kernel_width`` (default
0.25) and ``D`` the cosine distance (default) or the L2 distance, both in [0, 1].

The authors' image explainer (``lime_image``) differs in two respects: its kernel is the square
root of Eq. 3's, ``√exp(−D²/σ²) = exp(−D²/(2σ²))``, with the same ``σ = 0.25`` and the same
cosine distance on ``z`` (``kernel_width = 0.25·√2 ≈ 0.354`` here gives its weights exactly);
and its samples keep each superpixel with probability 1/2 instead of §3.3's uniform count.

Explanation (Eq. 1 with the "highest weights" feature selection of §3.4 and the authors' code):
weighted least squares ``argmin Σ_i π(z_i)·(y_c(h(z_i)) − a − z_i·β)²`` on all features, keep the
``K = n_features`` largest ``|β_j|``, refit on those; the map paints ``β_j`` on superpixel ``j``
(0 for the others). Signed: positive superpixels support the class.

Samples are drawn from ``seed`` per image (independent of the batch); copies of all images share
forward passes. Input: N×3×H×W; result: N×H×W (superpixels painted at input resolution).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from explainers.core.methods._superpixels import (
    SuperpixelExplainer,
    lime_fit,
    lime_kernel,
    lime_samples,
    paint,
    sample_scores,
    superpixel_options,
)
from explainers.core.registry import Option, register_method

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier


@register_method
class Lime(SuperpixelExplainer):
    name = "lime"
    description = (
        "LIME: weighted linear model of the class probability on SLIC superpixels switched off "
        "at random; the K largest weights painted on their superpixels (black box)."
    )
    citation = (
        "Ribeiro, Singh & Guestrin (2016). 'Why should I trust you?': explaining the predictions "
        "of any classifier. KDD"
    )
    family = "perturbation"
    resolution = "input"
    score = "probability"
    stochastic = True
    options = {
        **superpixel_options(n_samples=1000),
        "n_features": Option(
            10,
            (int,),
            "K superpixels kept in the explanation (the paper's K)",
            minimum=1,
            maximum=2000,
        ),
        "kernel_width": Option(
            0.25, (float,), "σ of the kernel exp(−D²/σ²) (Eq. 3)", minimum=1e-3, maximum=100.0
        ),
        "distance": Option(
            "cosine",
            (str,),
            "D: 'cosine' or 'l2' distance to the image in {0,1}^M",
            choices=("cosine", "l2"),
        ),
    }

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
        samples = [
            lime_samples(
                int(s.max()) + 1, options["n_samples"], torch.Generator().manual_seed(seed)
            )
            for s in segments
        ]
        scores = sample_scores(classifier, x, targets, segments, samples, options)
        maps = []
        for i, (labels, z) in enumerate(zip(segments, samples, strict=True)):
            weights = lime_kernel(z, options["kernel_width"], options["distance"])
            beta = lime_fit(z, scores[:, i], weights, options["n_features"])
            maps.append(paint(labels, beta))
        return torch.stack(maps)
