"""Gaussian input noise shared by SmoothGrad and VarGrad.

The noise is drawn on the CPU from one generator per sample, seeded with ``(seed, sample)``, and
is the same for every image of a call (scaled by each image's σ): the map of an image depends on
the seed only, not on which images share its batch nor on ``batch_size``, and the same seed gives
the same noise on every device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from explainers.core.methods.backprop import copies_gradients
from explainers.core.registry import Option, batch_size_option, score_option

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier


def noise_options() -> dict[str, Option]:
    return {
        "n_samples": Option(50, (int,), "number of noisy copies", minimum=1, maximum=100_000),
        "noise_level": Option(
            0.15, (float,), "σ as a fraction of (max − min) of the image", minimum=0.0
        ),
        "score": score_option("logit"),
        "batch_size": batch_size_option(8),
    }


def unit_noise(seed: int, sample: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Standard normal noise ε of ``shape`` for ``sample`` of a call seeded with ``seed`` (CPU).

    Each (seed, sample) pair gets its own generator, seeded with a 32-bit state mixed from both
    by ``numpy.random.SeedSequence`` (torch's CPU generator keeps 32 bits of a seed).
    """
    state = int(np.random.SeedSequence([seed, sample]).generate_state(1)[0])
    return torch.randn(shape, generator=torch.Generator().manual_seed(state))


def noisy_gradient_moments(
    classifier: Classifier,
    x: torch.Tensor,
    targets: torch.Tensor,
    *,
    seed: int,
    n_samples: int,
    noise_level: float,
    score: str,
    batch_size: int,
    variance: bool,
) -> torch.Tensor:
    """Per image, over ``n_samples`` copies ``x + σ·ε_s`` with ``σ = noise_level·(max x − min x)``:
    the mean of ``|∂y/∂x|`` (``variance=False``) or the variance ``E[g²] − E[g]²`` of the signed
    gradient (``variance=True``, population variance, accumulated in float64). N×3×H×W."""
    result = torch.empty_like(x)
    shape = tuple(x.shape[1:])
    for i in range(x.shape[0]):
        image = x[i]
        sigma = noise_level * float(image.max() - image.min())
        first = torch.zeros(shape, dtype=torch.float64, device=x.device)
        second = torch.zeros_like(first) if variance else None

        def build(part: slice, image: torch.Tensor = image, sigma: float = sigma) -> torch.Tensor:
            noise = torch.stack([unit_noise(seed, s, shape) for s in range(part.start, part.stop)])
            return image + sigma * noise.to(image.device)

        def accumulate(
            gradients: torch.Tensor,
            part: slice,
            first: torch.Tensor = first,
            second: torch.Tensor | None = second,
        ) -> None:
            g = gradients.double()
            if second is None:
                first.add_(g.abs().sum(dim=0))
            else:
                first.add_(g.sum(dim=0))
                second.add_((g * g).sum(dim=0))

        copies_gradients(
            classifier,
            n_samples,
            build,
            int(targets[i]),
            score=score,
            batch_size=batch_size,
            accumulate=accumulate,
        )
        mean = first / n_samples
        if second is None:
            result[i] = mean.float()
        else:
            result[i] = (second / n_samples - mean * mean).clamp(min=0).float()
    return result
