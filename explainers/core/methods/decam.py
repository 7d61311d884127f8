"""DE-CAM — black-box saliency by differential evolution, after Karatsiolis & Kamilaris 2022,
"A model-agnostic approach for generating saliency maps to explain inferred decisions of deep
learning models" (arXiv:2209.08906).

Only the paper's abstract is available (seeds/002…), so **the formulation below is ours**, not
the authors'. An individual is a coarse mask ``m ∈ [0, 1]^(g×g)`` (``g = grid``), upsampled
bilinearly (``align_corners=False``) to ``U(m)`` (H×W). Its energy, minimised, is

    ``E(m) = −y_c(x ⊙ U(m)) / |y_c(x)| + λ · mean(m)``     (``λ = area_weight``)

— keep the class score when only the masked region is kept (0 elsewhere in model space: the
data set's mean colour), with as small a region as possible. Optimiser:
``scipy.optimize.differential_evolution`` (Storn & Price 1997; strategy ``best1bin``, mutation
dithered in [0.5, 1), crossover ``recombination``), with a vectorised objective: the whole
population of a generation is scored as one batch (``batch_size`` inputs per forward pass).
The initial population (``population`` individuals, Latin hypercube) and every draw of the
optimiser come from ``seed``; no early stop and no polishing, so the budget is exactly
``population · (generations + 1)`` model evaluations per image.

Map: the best individual (``output="best"``) or the mean of the final population weighted by
``E_max − E_i`` (``output="mean"``). Input: N×3×H×W; result: N×g×g (grid resolution).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import differential_evolution
from scipy.stats import qmc

from explainers.core.errors import ExplainerInputError
from explainers.core.methods._blackbox import blackbox_options, original_scores, score
from explainers.core.methods.base import Explainer
from explainers.core.registry import Option, register_method

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier


def upsample_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """P×g×g masks → P×H×W, bilinear, ``align_corners=False``."""
    return F.interpolate(masks[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def final_map(result: Any, grid: int, output: str) -> torch.Tensor:
    """The best individual, or the final population weighted by ``E_max − E_i`` (g×g)."""
    if output == "best":
        return torch.as_tensor(result.x, dtype=torch.float32).view(grid, grid)
    energies = np.asarray(result.population_energies, dtype=np.float64)
    weights = energies.max() - energies
    if weights.sum() <= 0:
        weights = np.ones_like(energies)
    mean = (weights[:, None] * np.asarray(result.population)).sum(0) / weights.sum()
    return torch.as_tensor(mean, dtype=torch.float32).view(grid, grid)


@register_method
class DeCam(Explainer):
    name = "decam"
    description = (
        "DE-CAM (our formulation): a coarse mask optimised by differential evolution to keep the "
        "class probability with the smallest area (black box; grid resolution)."
    )
    citation = (
        "Karatsiolis & Kamilaris (2022). A model-agnostic approach for generating saliency maps "
        "to explain inferred decisions of deep learning models. arXiv:2209.08906 "
        "(formulation ours: only the abstract is available)"
    )
    family = "perturbation"
    resolution = "feature"
    score = "probability"
    stochastic = True
    options = {
        "grid": Option(7, (int,), "mask cells g per side (g² variables)", minimum=2, maximum=16),
        "population": Option(40, (int,), "individuals per generation", minimum=5, maximum=10_000),
        "generations": Option(
            50, (int,), "generations of differential evolution", minimum=1, maximum=10_000
        ),
        "area_weight": Option(
            0.5, (float,), "λ: penalty on the mask's mean value", minimum=0.0, maximum=100.0
        ),
        "recombination": Option(0.7, (float,), "crossover probability", minimum=0.0, maximum=1.0),
        "output": Option(
            "best",
            (str,),
            "'best' individual, or the fitness-weighted 'mean' of the final population",
            choices=("best", "mean"),
        ),
        **blackbox_options(),
    }

    def check(self, classifier: Classifier, x: torch.Tensor, options: Mapping[str, Any]) -> None:
        if options["grid"] > min(x.shape[2], x.shape[3]):
            raise ExplainerInputError(
                "grid", f"{options['grid']} cells exceed the image side {min(x.shape[2:])}"
            )
        budget = options["population"] * (options["generations"] + 1)
        if budget > 1_000_000:
            raise ExplainerInputError(
                "generations",
                f"population × (generations + 1) = {budget} model evaluations per image "
                "exceeds 1,000,000",
            )

    def attribute(
        self,
        classifier: Classifier,
        x: torch.Tensor,
        targets: torch.Tensor,
        *,
        seed: int,
        options: Mapping[str, Any],
    ) -> torch.Tensor:
        full = original_scores(classifier, x, targets, options).abs().clamp_min(1e-12)
        maps = [
            self._one(classifier, x[i], targets[i], float(full[i]), seed, options)
            for i in range(x.shape[0])
        ]
        return torch.stack(maps)

    def _one(
        self,
        classifier: Classifier,
        image: torch.Tensor,
        target: torch.Tensor,
        full: float,
        seed: int,
        options: Mapping[str, Any],
    ) -> torch.Tensor:
        grid, size = options["grid"], (image.shape[1], image.shape[2])
        dims = grid * grid

        def energy(population: np.ndarray) -> np.ndarray:
            masks = torch.as_tensor(population.T, dtype=torch.float32, device=image.device)
            masks = masks.reshape(-1, grid, grid)

            def build(part: slice) -> tuple[torch.Tensor, torch.Tensor]:
                kept = upsample_masks(masks[part], size)
                return image[None] * kept[:, None], target.expand(kept.shape[0])

            kept_scores = score(classifier, masks.shape[0], build, options).double().cpu()
            area = masks.double().mean(dim=(1, 2)).cpu()
            return (-kept_scores / full + options["area_weight"] * area).numpy()

        rng = np.random.default_rng(seed)
        init = qmc.LatinHypercube(d=dims, rng=rng).random(options["population"])
        result = differential_evolution(
            energy,
            [(0.0, 1.0)] * dims,
            init=init,
            maxiter=options["generations"],
            recombination=options["recombination"],
            tol=0.0,
            atol=0.0,
            polish=False,
            vectorized=True,
            updating="deferred",
            rng=rng,
        )
        return final_map(result, grid, options["output"])
