"""Integrated gradients — Sundararajan, Taly & Yan 2017 (tutorial Eq. 8).

``IG_c,ij = (x − x̃)_c,ij · ∫₀¹ ∂y/∂x_c,ij (x̃ + α(x − x̃)) dα ≈ (x − x̃) · Σ_s w_s ∇y(x̃ + α_s(x − x̃))``

with the baseline ``x̃`` a black image (zero pixels, ``(0 − mean)/std`` in model space) and the
integral by a stated quadrature rule over ``n_steps`` nodes (default: Gauss–Legendre, 50 nodes,
as Captum). The map is ``|Σ_c IG_c|`` (sum over colour channels, then the absolute value).
Completeness: ``Σ_c,ij IG_c,ij ≈ y(x) − y(x̃)``, up to the quadrature error.
Input: N×3×H×W; result: N×H×W.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from explainers.core.errors import ExplainerInputError
from explainers.core.methods.backprop import backprop_options, copies_gradients
from explainers.core.methods.base import Explainer
from explainers.core.registry import Option, register_method

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier

QUADRATURES = (
    "gausslegendre",
    "riemann_trapezoid",
    "riemann_middle",
    "riemann_left",
    "riemann_right",
)


def quadrature(rule: str, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes ``α_s`` in [0, 1] and weights ``w_s`` (summing to 1) of a rule with ``n`` nodes.

    ``gausslegendre``: Gauss–Legendre nodes mapped from [−1, 1]; ``riemann_trapezoid``: ``n``
    equally spaced nodes including both ends, end weights halved; ``riemann_middle``/``left``/
    ``right``: ``n`` intervals of width 1/n, evaluated at their middle, left or right end.
    """
    if rule == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(n)
        alphas, steps = (nodes + 1) / 2, weights / 2
    elif rule == "riemann_trapezoid":
        if n < 2:
            raise ExplainerInputError("n_steps", "riemann_trapezoid needs at least 2 steps")
        alphas = np.linspace(0.0, 1.0, n)
        steps = np.full(n, 1.0 / (n - 1))
        steps[0] = steps[-1] = 0.5 / (n - 1)
    else:
        offset = {"riemann_middle": 0.5, "riemann_left": 0.0, "riemann_right": 1.0}[rule]
        alphas = (np.arange(n) + offset) / n
        steps = np.full(n, 1.0 / n)
    return torch.from_numpy(alphas).float(), torch.from_numpy(steps).float()


def ig_baseline(classifier: Classifier, x: torch.Tensor, baseline: str) -> torch.Tensor:
    """The baseline images x̃ (N×3×H×W): black pixels, or zeros in model space."""
    if baseline == "zero":
        return torch.zeros_like(x)
    black = classifier.pixel_value(0.0)
    if black is None:
        raise ExplainerInputError(
            "baseline",
            "'black' needs the classifier's normalisation (give Classifier mean and std) "
            "or use baseline='zero'",
        )
    return black.view(1, 3, 1, 1).expand_as(x).contiguous()


def integrated_gradients_attributions(
    classifier: Classifier,
    x: torch.Tensor,
    targets: torch.Tensor,
    *,
    n_steps: int = 50,
    quadrature_rule: str = "gausslegendre",
    baseline: str = "black",
    score: str = "logit",
    batch_size: int = 8,
) -> torch.Tensor:
    """Signed attributions ``IG`` (N×3×H×W, float32), before the channel reduction."""
    alphas, weights = quadrature(quadrature_rule, n_steps)
    alphas, weights = alphas.to(x.device), weights.to(x.device)
    baselines = ig_baseline(classifier, x, baseline)
    result = torch.empty_like(x)
    for i in range(x.shape[0]):
        start, delta = baselines[i], x[i] - baselines[i]
        total = torch.zeros_like(delta)

        def build(
            part: slice, start: torch.Tensor = start, delta: torch.Tensor = delta
        ) -> torch.Tensor:
            return start + alphas[part].view(-1, 1, 1, 1) * delta

        def accumulate(gradients: torch.Tensor, part: slice, total: torch.Tensor = total) -> None:
            total.add_((gradients * weights[part].view(-1, 1, 1, 1)).sum(dim=0))

        copies_gradients(
            classifier,
            n_steps,
            build,
            int(targets[i]),
            score=score,
            batch_size=batch_size,
            accumulate=accumulate,
        )
        result[i] = delta * total
    return result


@register_method
class IntegratedGradients(Explainer):
    name = "integrated_gradients"
    description = (
        "Integrated gradients from a black baseline (n_steps quadrature nodes); "
        "|sum over colour channels|."
    )
    citation = (
        "Sundararajan, Taly & Yan (2017). Axiomatic attribution for deep networks. ICML, "
        "arXiv:1703.01365"
    )
    family = "backprop"
    resolution = "input"
    score = "logit"
    options = {
        "n_steps": Option(50, (int,), "number of quadrature nodes", minimum=1, maximum=10_000),
        "quadrature": Option(
            "gausslegendre", (str,), "quadrature rule of the path integral", choices=QUADRATURES
        ),
        "baseline": Option(
            "black",
            (str,),
            "'black' (zero pixels: (0 − mean)/std) or 'zero' (zero in model space)",
            choices=("black", "zero"),
        ),
        **backprop_options(),
    }

    def check(self, classifier: Classifier, x: torch.Tensor, options: Mapping[str, Any]) -> None:
        if options["baseline"] == "black" and classifier.pixel_value(0.0) is None:
            ig_baseline(classifier, x[:1], "black")
        if options["quadrature"] == "riemann_trapezoid" and options["n_steps"] < 2:
            raise ExplainerInputError("n_steps", "riemann_trapezoid needs at least 2 steps")

    def attribute(
        self,
        classifier: Classifier,
        x: torch.Tensor,
        targets: torch.Tensor,
        *,
        seed: int,
        options: Mapping[str, Any],
    ) -> torch.Tensor:
        attributions = integrated_gradients_attributions(
            classifier,
            x,
            targets,
            n_steps=options["n_steps"],
            quadrature_rule=options["quadrature"],
            baseline=options["baseline"],
            score=options["score"],
            batch_size=options["batch_size"],
        )
        return attributions.sum(dim=1).abs()
