"""RISE — Petsiuk, Das & Saenko 2018, "RISE: randomized input sampling for explanation of
black-box models" (BMVC), Eq. 6 and §3.2.

``S_c = Σ_i y_c(x ⊙ M_i) · M_i / (N·p)`` over ``N = n_masks`` random masks ``M_i`` (H×W, values
in [0, 1]); ``x ⊙ M`` is 0 in model space where the mask is 0 (the data set's mean colour).

Masks (§3.2 and the authors' code): a binary ``s×s`` grid (``s = grid``) with cells kept with
probability ``p``; bilinear upsampling (``align_corners=False``; the authors use scikit-image's
order-1 resize, whose border handling differs by at most a fraction of a cell) to
``(s + 1)·⌈H/s⌉ × (s + 1)·⌈W/s⌉``; a crop H×W at a random shift in ``[0, ⌈H/s⌉) × [0, ⌈W/s⌉)``.
Only the grids and shifts are drawn (from ``seed``, on the CPU): the same seed and input size give
the same masks for every image and every call, and the H×W masks are rebuilt ``batch_size`` at a
time, so memory does not grow with ``n_masks``. Copies of all images share forward passes.

Input: N×3×H×W; result: N×H×W (input resolution: the masks are H×W).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from explainers.core.batching import chunks
from explainers.core.errors import ExplainerInputError
from explainers.core.methods._blackbox import blackbox_options, score
from explainers.core.methods.base import Explainer
from explainers.core.registry import Option, register_method

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier


class RiseMasks:
    """The masks of one seed: ``n`` grids ``s×s`` (kept with probability ``p``) and shifts."""

    def __init__(self, n_masks: int, grid: int, p: float, size: tuple[int, int], seed: int):
        generator = torch.Generator().manual_seed(seed)
        self.size = size
        self.grid = grid
        self.cell = (math.ceil(size[0] / grid), math.ceil(size[1] / grid))
        self.grids = (torch.rand(n_masks, grid, grid, generator=generator) < p).float()
        self.shifts = torch.stack(
            [
                torch.randint(0, self.cell[0], (n_masks,), generator=generator),
                torch.randint(0, self.cell[1], (n_masks,), generator=generator),
            ],
            dim=1,
        )

    def __len__(self) -> int:
        return self.grids.shape[0]

    def build(self, indices: Sequence[int] | slice, device: torch.device) -> torch.Tensor:
        """The masks ``indices`` as an m×H×W float32 tensor on ``device``."""
        grids = self.grids[indices].to(device)
        upsampled = (self.grid + 1) * self.cell[0], (self.grid + 1) * self.cell[1]
        smooth = F.interpolate(grids[:, None], size=upsampled, mode="bilinear", align_corners=False)
        height, width = self.size
        out = torch.empty(grids.shape[0], height, width, device=device)
        for row, (dy, dx) in enumerate(self.shifts[indices].tolist()):
            out[row] = smooth[row, 0, dy : dy + height, dx : dx + width]
        return out.clamp_(0.0, 1.0)  # interpolation may overshoot 1 by a rounding error


@register_method
class Rise(Explainer):
    name = "rise"
    description = (
        "RISE: mean of random smooth binary masks weighted by the class probability of the "
        "masked input (black box; input resolution)."
    )
    citation = (
        "Petsiuk, Das & Saenko (2018). RISE: randomized input sampling for explanation of "
        "black-box models. BMVC"
    )
    family = "perturbation"
    resolution = "input"
    score = "probability"
    stochastic = True
    options = {
        "n_masks": Option(
            4000,
            (int,),
            "number of random masks N (the paper uses 8000)",
            minimum=1,
            maximum=100_000,
        ),
        "grid": Option(7, (int,), "cells s of the random grid per side", minimum=2, maximum=64),
        "p": Option(
            0.5, (float,), "probability of keeping a grid cell, in (0, 1)", minimum=0.0, maximum=1.0
        ),
        **blackbox_options(),
    }

    def check(self, classifier: Classifier, x: torch.Tensor, options: Mapping[str, Any]) -> None:
        if not 0.0 < options["p"] < 1.0:
            raise ExplainerInputError("p", f"must lie strictly between 0 and 1, got {options['p']}")
        if options["grid"] > min(x.shape[2], x.shape[3]):
            raise ExplainerInputError(
                "grid", f"{options['grid']} cells exceed the image side {min(x.shape[2:])}"
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
        n_images, n_masks = x.shape[0], options["n_masks"]
        size = (x.shape[2], x.shape[3])
        masks = RiseMasks(n_masks, options["grid"], options["p"], size, seed)
        device = x.device

        def build(part: slice) -> tuple[torch.Tensor, torch.Tensor]:
            # Item t is mask t // N applied to image t % N: copies of all images share a batch.
            items = torch.arange(part.start, part.stop)
            first = int(items[0]) // n_images
            batch = masks.build(slice(first, int(items[-1]) // n_images + 1), device)
            chosen = batch[(items // n_images - first).to(device)]
            images = (items % n_images).to(device)
            return x[images] * chosen[:, None], targets[images]

        scores = score(classifier, n_masks * n_images, build, options).view(n_masks, n_images)
        saliency = torch.zeros(n_images, *x.shape[2:], device=device)
        for part in chunks(n_masks, max(1, options["batch_size"])):
            saliency += torch.einsum("mn,mhw->nhw", scores[part], masks.build(part, device))
        return saliency / (n_masks * options["p"])
