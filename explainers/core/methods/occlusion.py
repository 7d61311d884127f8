"""Occlusion — Zeiler & Fergus 2014, "Visualizing and understanding convolutional networks"
(ECCV), §4.2.

A ``window×window`` patch (all channels) slides over the image with step ``stride``; at each
position ``(u, v)`` (top-left corner ``(u·stride, v·stride)``, every position with the patch
inside the image) it replaces the pixels by ``baseline`` (0 in model space: the data set's mean
colour, a grey) and records the score drop ``Δ_uv = y_c(x) − y_c(x_occluded(u, v))``.

``output="grid"`` (default) returns the drops themselves, ``P_h×P_w`` with
``P = ⌊(H − window)/stride⌋ + 1``; the defaults (window = stride = 32) tile a 224² image with a
7×7 grid whose cells are exactly the occluded patches. ``output="input"`` spreads them over the
pixels as Captum does: each pixel gets the mean drop of the positions whose patch covers it
(0 where none does), H×W. Captum also occludes a last, clipped patch at the border when
``H − window`` is not a multiple of ``stride``; we keep full patches only. Occluded copies of all
images share forward passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from explainers.core.errors import ExplainerInputError
from explainers.core.methods._blackbox import (
    baseline_option,
    blackbox_options,
    original_scores,
    score,
)
from explainers.core.methods.base import Explainer
from explainers.core.registry import Option, register_method

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier


def positions(size: int, window: int, stride: int) -> int:
    """Number of patch positions along one side: ``⌊(size − window)/stride⌋ + 1``."""
    return (size - window) // stride + 1


def spread_to_pixels(
    drops: torch.Tensor, size: tuple[int, int], window: int, stride: int
) -> torch.Tensor:
    """N×P_h×P_w drops → N×H×W: per pixel, the mean drop over the patches covering it."""
    n, rows, cols = drops.shape
    patches = drops.reshape(n, 1, rows * cols).expand(n, window * window, rows * cols)
    total = F.fold(patches.contiguous(), size, kernel_size=window, stride=stride)[:, 0]
    ones = torch.ones(1, window * window, rows * cols, device=drops.device)
    count = F.fold(ones, size, kernel_size=window, stride=stride)[:, 0]
    return torch.where(count > 0, total / count.clamp_min(1.0), torch.zeros_like(total))


@register_method
class Occlusion(Explainer):
    name = "occlusion"
    description = (
        "Occlusion: score drop when a sliding patch is replaced by the baseline (black box; "
        "grid of patch positions, or spread over the pixels)."
    )
    citation = "Zeiler & Fergus (2014). Visualizing and understanding convolutional networks. ECCV"
    family = "perturbation"
    resolution = "feature"
    score = "probability"
    options = {
        "window": Option(32, (int,), "side of the square patch in pixels", minimum=1),
        "stride": Option(32, (int,), "step between patch positions in pixels", minimum=1),
        **baseline_option(),
        "output": Option(
            "grid",
            (str,),
            "'grid': one value per patch position; 'input': mean drop per pixel (as Captum)",
            choices=("grid", "input"),
        ),
        **blackbox_options(),
    }

    def check(self, classifier: Classifier, x: torch.Tensor, options: Mapping[str, Any]) -> None:
        side = min(x.shape[2], x.shape[3])
        if options["window"] > side:
            raise ExplainerInputError(
                "window", f"a {options['window']}-pixel patch exceeds the image side {side}"
            )
        if options["stride"] > side:
            raise ExplainerInputError(
                "stride", f"a stride of {options['stride']} exceeds the image side {side}"
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
        n_images, _, height, width = x.shape
        window, stride, baseline = options["window"], options["stride"], options["baseline"]
        rows, cols = positions(height, window, stride), positions(width, window, stride)
        device = x.device

        def build(part: slice) -> tuple[torch.Tensor, torch.Tensor]:
            # Item t occludes position t // N of image t % N.
            items = torch.arange(part.start, part.stop)
            images = (items % n_images).to(device)
            inputs = x[images].clone()
            for row, position in enumerate((items // n_images).tolist()):
                top, left = (position // cols) * stride, (position % cols) * stride
                inputs[row, :, top : top + window, left : left + window] = baseline
            return inputs, targets[images]

        full = original_scores(classifier, x, targets, options)
        scores = score(classifier, rows * cols * n_images, build, options)
        drops = (full[None, :] - scores.view(rows * cols, n_images)).T.reshape(n_images, rows, cols)
        if options["output"] == "input":
            return spread_to_pixels(drops, (height, width), window, stride)
        return drops
