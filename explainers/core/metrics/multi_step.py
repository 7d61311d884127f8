"""Multi-step metrics: deletion and insertion curves, their area (DAUC, IAUC) and their
correlation with the saliency (DC, IC) — Petsiuk et al. 2018; Gomez et al. 2022.

The unit is a cell of the saliency map (nearest-neighbour upsampled: pixel row r belongs to cell
row ``floor(r·h/H)``). Cells are ranked by descending saliency (ties: row-major order, a stable
sort). ``k = ceil(h·w / max_steps)`` cells change per step (``max_steps`` = 196), so there are
``T = ceil(h·w / k)`` steps, the last one taking the remainder; a 7×7 map gives 49 steps of one
cell, a 224×224 map 196 steps of 256 pixels.

- Deletion: from the image ``x``, the cells are replaced, in order, by the baseline (0 in model
  space by default). Insertion: from the blurred image (box blur ``max(H//5, 9)`` rounded up to
  odd, zero padding), the original cells are revealed in order.
- Scores ``s_0`` (before any change) … ``s_T`` (all changed) of the target class of the ORIGINAL
  image (softmax probability by default). The reference code used the blurred image's top-1 for
  insertion when no class was given: a defect, not reproduced.
- DAUC / IAUC = trapezoid area on x ∈ [0, 1] with T equal intervals:
  ``(1/T)·[(s_0 + s_T)/2 + Σ_{t=1}^{T−1} s_t]`` (scores are not rescaled).
- DC = Pearson correlation of the drops ``s_{t−1} − s_t`` with the mean saliency of the cells
  removed at step t; IC the same with the rises ``s_t − s_{t−1}``. NaN when either sequence is
  constant (e.g. a constant map): undefined, reported as missing.

The ``T + 1`` perturbed copies of an image are scored ``batch_size`` at a time, built on the fly
from one rank image (no mask tensor of T×H×W is ever held).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from explainers.core.batching import score_items
from explainers.core.errors import ExplainerInputError
from explainers.core.metrics.base import Metric, pearson
from explainers.core.perturbation import blur_kernel_size, box_blur, pixel_cells
from explainers.core.registry import (
    Option,
    autocast_option,
    batch_size_option,
    register_metric,
    score_option,
)

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier

PETSIUK = (
    "Petsiuk, Das & Saenko (2018). RISE: randomized input sampling for explanation of black-box "
    "models. BMVC"
)
GOMEZ = (
    "Gomez, Fréour & Mouchère (2022). Metrics for saliency map evaluation of deep learning "
    "explanation methods. ICPRAI"
)


def step_plan(cells: int, max_steps: int) -> tuple[int, int]:
    """``(k, T)``: cells per step ``ceil(cells/max_steps)`` and steps ``ceil(cells/k)``."""
    per_step = -(-cells // max_steps)
    return per_step, -(-cells // per_step)


@dataclass
class Curves:
    """``scores`` N×(T+1) (s_0 … s_T) and ``saliency`` N×T (mean saliency changed at step t)."""

    scores: torch.Tensor
    saliency: torch.Tensor


def perturbation_curves(
    classifier: Classifier,
    x: torch.Tensor,
    saliency: torch.Tensor,
    targets: torch.Tensor,
    *,
    insertion: bool,
    baseline: str,
    max_steps: int = 196,
    blur_kernel: int | None = None,
    score: str = "probability",
    batch_size: int = 8,
    autocast: bool = False,
) -> Curves:
    """Deletion (``insertion=False``) or insertion curves of N images (see module docstring)."""
    n, _, height, width = x.shape
    h, w = saliency.shape[1:]
    cells = h * w
    per_step, steps = step_plan(cells, max_steps)
    cell_of_pixel = pixel_cells((h, w), (height, width), x.device)
    limits = (torch.arange(steps + 1, device=x.device) * per_step).clamp(max=cells)
    groups = torch.arange(cells, device=x.device) // per_step
    counts = torch.bincount(groups, minlength=steps).double()
    kernel = blur_kernel or blur_kernel_size(height)
    all_scores, all_means = [], []
    for i in range(n):
        flat = saliency[i].flatten()
        order = torch.sort(flat, descending=True, stable=True).indices
        rank = torch.empty_like(order)
        rank[order] = torch.arange(cells, device=x.device)
        pixel_rank = rank[cell_of_pixel]
        image = x[i]
        substitute = box_blur(image.unsqueeze(0), kernel)[0] if baseline == "blur" else None
        if substitute is None:
            substitute = torch.zeros_like(image)
        start, end = (substitute, image) if insertion else (image, substitute)

        def build(
            part: slice,
            pixel_rank: torch.Tensor = pixel_rank,
            start: torch.Tensor = start,
            end: torch.Tensor = end,
            target: torch.Tensor = targets[i],
        ) -> tuple[torch.Tensor, torch.Tensor]:
            changed = pixel_rank.unsqueeze(0) < limits[part].view(-1, 1, 1)
            images = torch.where(changed.unsqueeze(1), end.unsqueeze(0), start.unsqueeze(0))
            return images, target.expand(images.shape[0])

        scores = score_items(
            classifier, steps + 1, build, score=score, batch_size=batch_size, autocast=autocast
        )
        sums = torch.zeros(steps, dtype=torch.float64, device=x.device)
        sums.index_add_(0, groups, flat[order].double())
        all_scores.append(scores.double())
        all_means.append(sums / counts)
    return Curves(torch.stack(all_scores).cpu(), torch.stack(all_means).cpu())


def area(scores: torch.Tensor) -> torch.Tensor:
    """Trapezoid area of N curves ``s_0 … s_T`` on x ∈ [0, 1] with T equal intervals."""
    steps = scores.shape[1] - 1
    inner = scores[:, 1:-1].sum(dim=1)
    return (inner + (scores[:, 0] + scores[:, -1]) / 2) / steps


def multi_step_options(baseline: str) -> dict[str, Option]:
    return {
        "score": score_option("probability"),
        "max_steps": Option(196, (int,), "most perturbation steps (k cells per step)", minimum=1),
        "baseline": Option(
            baseline,
            (str,),
            "deletion: what replaces removed cells; insertion: the start image "
            "('zero' = 0 in model space, 'blur' = box blur)",
            choices=("zero", "blur"),
        ),
        "blur_kernel": Option(
            None, (int, type(None)), "box blur size (odd); None: max(H//5, 9) rounded up to odd"
        ),
        "batch_size": batch_size_option(8),
        "autocast": autocast_option(),
    }


class MultiStepMetric(Metric):
    kind = "multi_step"
    insertion: ClassVar[bool]

    def check(self, classifier: Classifier, x: torch.Tensor, options: Mapping[str, Any]) -> None:
        kernel = options["blur_kernel"]
        if kernel is not None and (kernel < 1 or kernel % 2 == 0):
            raise ExplainerInputError("blur_kernel", f"must be a positive odd int, got {kernel}")

    def curves(
        self,
        classifier: Classifier,
        x: torch.Tensor,
        saliency: torch.Tensor,
        targets: torch.Tensor,
        options: Mapping[str, Any],
    ) -> Curves:
        return perturbation_curves(
            classifier, x, saliency, targets, insertion=self.insertion, **options
        )


class _Area(MultiStepMetric):
    def compute(
        self,
        classifier: Classifier,
        x: torch.Tensor,
        saliency: torch.Tensor,
        targets: torch.Tensor,
        options: Mapping[str, Any],
    ) -> torch.Tensor:
        return area(self.curves(classifier, x, saliency, targets, options).scores).float()


class _Correlation(MultiStepMetric):
    def compute(
        self,
        classifier: Classifier,
        x: torch.Tensor,
        saliency: torch.Tensor,
        targets: torch.Tensor,
        options: Mapping[str, Any],
    ) -> torch.Tensor:
        curves = self.curves(classifier, x, saliency, targets, options)
        changes = curves.scores[:, 1:] - curves.scores[:, :-1]
        if not self.insertion:
            changes = -changes
        values = [pearson(changes[i], curves.saliency[i]) for i in range(changes.shape[0])]
        return torch.tensor(values, dtype=torch.float32)


@register_metric
class Dauc(_Area):
    name = "dauc"
    description = (
        "Deletion AUC: area under the class score as salient cells are zeroed (lower is better)."
    )
    citation = PETSIUK
    higher_is_better = False
    insertion = False
    options = multi_step_options("zero")


@register_metric
class Iauc(_Area):
    name = "iauc"
    description = (
        "Insertion AUC: area under the class score as salient cells of the image are revealed "
        "on a blurred copy (higher is better)."
    )
    citation = PETSIUK
    higher_is_better = True
    insertion = True
    options = multi_step_options("blur")


@register_metric
class Dc(_Correlation):
    name = "dc"
    description = (
        "Deletion correlation: Pearson correlation of score drops with the saliency removed "
        "at each step (higher is better; NaN when undefined)."
    )
    citation = GOMEZ
    higher_is_better = True
    insertion = False
    options = multi_step_options("zero")


@register_metric
class Ic(_Correlation):
    name = "ic"
    description = (
        "Insertion correlation: Pearson correlation of score rises with the saliency revealed "
        "at each step (higher is better; NaN when undefined)."
    )
    citation = GOMEZ
    higher_is_better = True
    insertion = True
    options = multi_step_options("blur")
