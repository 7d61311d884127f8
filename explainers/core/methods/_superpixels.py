"""Superpixel features shared by ``lime`` and ``kernelshap``: segmentation, samples, regression.

An image of ``M`` superpixels (SLIC, Achanta et al. 2012, from scikit-image) has the
interpretable representation ``z ∈ {0, 1}^M``: superpixel ``j`` is kept where ``z_j = 1`` and
replaced by ``baseline`` (0 in model space: the data set's mean colour, a grey) where
``z_j = 0``. The perturbed input is ``h(z) = b + (x − b) ⊙ z[S]`` with ``S`` the H×W label map.

``M`` is the number of superpixels SLIC actually returns for each image, which can differ from
the ``n_segments`` asked for (a few more or fewer, and as few as 1 on a flat or very noisy
image). The method's ``check`` (:class:`SuperpixelExplainer`) segments the images before any
model evaluation and rejects an image with ``M < 2`` (error naming ``n_segments``: a single
superpixel gives a constant map) and ``n_samples ≤ M`` (error naming ``n_samples``: the
regression needs more samples than superpixels), besides ``n_samples ≤ n_segments``, which
is rejected before segmenting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from skimage.segmentation import slic

from explainers.core.errors import ExplainerInputError
from explainers.core.methods._blackbox import baseline_option, blackbox_options, score
from explainers.core.methods.base import Explainer
from explainers.core.registry import Option

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier

#: Draws ``n_samples×M`` binary samples for ``M`` features from a seeded generator.
Sampler = Callable[[int, int, torch.Generator], torch.Tensor]


def superpixel_options(n_samples: int) -> dict[str, Option]:
    """SLIC segmentation, sample count and baseline options (LIME and Kernel SHAP)."""
    return {
        "n_segments": Option(
            50,
            (int,),
            "superpixels asked of SLIC (it may return a few more or fewer)",
            minimum=2,
            maximum=2000,
        ),
        "compactness": Option(
            10.0,
            (float,),
            "SLIC compactness (colour vs space balance)",
            minimum=1e-3,
            maximum=1e3,
        ),
        "sigma": Option(
            1.0, (float,), "SLIC Gaussian pre-smoothing width", minimum=0.0, maximum=10.0
        ),
        "n_samples": Option(
            n_samples,
            (int,),
            "model evaluations per image (samples of the superpixels)",
            minimum=10,
            maximum=100_000,
        ),
        **baseline_option(),
        **blackbox_options(),
    }


def check_samples(options: Mapping[str, Any]) -> None:
    """A regression on ``M`` superpixels needs more samples than superpixels: checked against
    the ``n_segments`` asked for before segmenting (see :func:`check_segments` for the ``M``
    actually returned)."""
    if options["n_samples"] <= options["n_segments"]:
        raise ExplainerInputError(
            "n_samples",
            f"{options['n_samples']} samples for {options['n_segments']} superpixels: give more "
            "samples than superpixels (n_segments)",
        )


def check_segments(segments: list[torch.Tensor], options: Mapping[str, Any]) -> None:
    """The superpixels SLIC returned, per image: at least 2, and fewer than ``n_samples``."""
    for i, labels in enumerate(segments):
        count = int(labels.max()) + 1
        if count < 2:
            raise ExplainerInputError(
                "n_segments",
                f"SLIC returned {count} superpixel for image {i} "
                f"(n_segments={options['n_segments']} asked); a map needs at least 2: ask for "
                "more segments (n_segments), or lower compactness or sigma",
            )
        if options["n_samples"] <= count:
            raise ExplainerInputError(
                "n_samples",
                f"{options['n_samples']} samples for the {count} superpixels SLIC returned for "
                f"image {i} (n_segments={options['n_segments']} asked): give more samples than "
                "superpixels",
            )


class SuperpixelExplainer(Explainer):
    """The base of ``lime`` and ``kernelshap``: ``check`` segments the images (no model
    evaluation) and validates the superpixel counts; ``attribute`` reuses those segments."""

    _segmented: tuple[torch.Tensor, tuple[Any, ...], list[torch.Tensor]] | None = None

    def check(self, classifier: Classifier, x: torch.Tensor, options: Mapping[str, Any]) -> None:
        check_samples(options)
        segments = segments_of(classifier, x, options)
        check_segments(segments, options)
        self._segmented = (x, _segmentation_key(options), segments)

    def segments(
        self, classifier: Classifier, x: torch.Tensor, options: Mapping[str, Any]
    ) -> list[torch.Tensor]:
        """The checked segments of ``x`` (those of :meth:`check` when it saw the same ``x``)."""
        cached = self._segmented
        if cached is not None and cached[0] is x and cached[1] == _segmentation_key(options):
            return cached[2]
        self.check(classifier, x, options)
        assert self._segmented is not None
        return self._segmented[2]


def _segmentation_key(options: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(options[k] for k in ("n_segments", "compactness", "sigma", "n_samples"))


def segments_of(
    classifier: Classifier, x: torch.Tensor, options: Mapping[str, Any]
) -> list[torch.Tensor]:
    """SLIC labels (H×W, on the CPU) of each image of ``x``."""
    mean = torch.tensor(classifier.mean) if classifier.mean is not None else None
    std = torch.tensor(classifier.std) if classifier.std is not None else None
    return [
        segment(
            unit_image(image, mean, std),
            options["n_segments"],
            options["compactness"],
            options["sigma"],
        )
        for image in x
    ]


def sample_scores(
    classifier: Classifier,
    x: torch.Tensor,
    targets: torch.Tensor,
    segments: list[torch.Tensor],
    samples: list[torch.Tensor],
    options: Mapping[str, Any],
) -> torch.Tensor:
    """``y_c(h(z))`` for every sample of every image: ``n_samples×N`` (float64, CPU).

    Item ``t`` is sample ``t // N`` of image ``t % N``, so copies of all images share batches.
    """
    n_images, n_samples = x.shape[0], samples[0].shape[0]
    device, baseline = x.device, options["baseline"]
    labels = [s.to(device) for s in segments]
    kept = [z.to(device) for z in samples]

    def build(part: slice) -> tuple[torch.Tensor, torch.Tensor]:
        items = torch.arange(part.start, part.stop)
        images, rows = items % n_images, items // n_images
        keep = torch.empty(len(items), *x.shape[2:], device=device)
        for i in images.unique().tolist():  # one gather per image, not per item
            chosen = images == i
            keep[chosen.to(device)] = kept[i][rows[chosen].to(device)][:, labels[i]]
        images = images.to(device)
        return baseline + (x[images] - baseline) * keep[:, None], targets[images]

    scores = score(classifier, n_samples * n_images, build, options)
    return scores.view(n_samples, n_images).to("cpu", torch.float64)


def unit_image(x: torch.Tensor, mean: torch.Tensor | None, std: torch.Tensor | None) -> np.ndarray:
    """A 3×H×W model-space image as an H×W×3 float array in [0, 1] for SLIC.

    With the model's normalisation (``mean``, ``std`` of shape 3): ``x·std + mean`` clipped;
    without: min–max of the image over all channels.
    """
    image = x.detach().to("cpu", torch.float64)
    if mean is not None and std is not None:
        image = image * std.to(image).reshape(-1, 1, 1) + mean.to(image).reshape(-1, 1, 1)
    else:
        lo, hi = image.min(), image.max()
        image = (image - lo) / (hi - lo) if hi > lo else torch.zeros_like(image)
    return image.clamp(0.0, 1.0).permute(1, 2, 0).numpy()


def segment(image: np.ndarray, n_segments: int, compactness: float, sigma: float) -> torch.Tensor:
    """SLIC labels ``H×W`` (int64), relabelled ``0 … M−1`` in order of first appearance."""
    labels = slic(
        image,
        n_segments=n_segments,
        compactness=compactness,
        sigma=sigma,
        start_label=0,
        channel_axis=-1 if image.ndim == 3 else None,
    )
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return torch.from_numpy(order[inverse].reshape(labels.shape).astype(np.int64))


def lime_samples(n_features: int, n_samples: int, generator: torch.Generator) -> torch.Tensor:
    """``n_samples×M`` binary samples as in Ribeiro et al. §3.3: the first is the instance
    itself (all ones); for the others the number ``k`` of kept superpixels is uniform in
    ``{1 … M}`` and the kept set is uniform among the sets of size ``k``."""
    rows = torch.ones(n_samples, n_features)
    for i in range(1, n_samples):
        k = int(torch.randint(1, n_features + 1, (1,), generator=generator))
        rows[i] = _subset(n_features, k, generator)
    return rows


def shapley_samples(n_features: int, n_samples: int, generator: torch.Generator) -> torch.Tensor:
    """``n_samples×M`` coalitions drawn from the Shapley kernel (Lundberg & Lee 2017, Thm. 2):
    size ``k ∈ {1 … M−1}`` with ``p(k) ∝ (M − 1) / (k·(M − k))``, then a uniform subset of that
    size. Drawing ``z`` with probability ``∝ π(z)`` lets every sample carry weight 1."""
    sizes = torch.arange(1, n_features, dtype=torch.float64)
    probabilities = (n_features - 1) / (sizes * (n_features - sizes))
    drawn = torch.multinomial(probabilities, n_samples, replacement=True, generator=generator)
    rows = torch.zeros(n_samples, n_features)
    for i, k in enumerate((drawn + 1).tolist()):
        rows[i] = _subset(n_features, int(k), generator)
    return rows


def _subset(n_features: int, k: int, generator: torch.Generator) -> torch.Tensor:
    row = torch.zeros(n_features)
    row[torch.randperm(n_features, generator=generator)[:k]] = 1.0
    return row


def lime_kernel(z: torch.Tensor, kernel_width: float, distance: str) -> torch.Tensor:
    """``π(z) = exp(−D(1, z)² / σ²)`` (Ribeiro et al. Eq. 3) with ``D`` the cosine distance
    ``1 − ‖z‖₁ / (√‖z‖₁·√M)`` or the L2 distance ``‖1 − z‖₂ / √M`` (both in [0, 1])."""
    n_features = z.shape[1]
    kept = z.sum(dim=1).to(torch.float64)
    if distance == "cosine":
        d = 1.0 - torch.sqrt(kept / n_features)
    else:
        d = torch.sqrt((n_features - kept) / n_features)
    return torch.exp(-(d**2) / kernel_width**2)


def weighted_least_squares(
    z: torch.Tensor, y: torch.Tensor, weights: torch.Tensor
) -> tuple[float, torch.Tensor]:
    """``argmin_{a,β} Σ_i w_i (y_i − a − z_i·β)²`` (float64, minimum-norm if rank deficient)."""
    design = torch.cat([torch.ones(z.shape[0], 1, dtype=torch.float64), z.to(torch.float64)], 1)
    root = torch.sqrt(weights.to(torch.float64))[:, None]
    solution = torch.linalg.lstsq(
        design * root, y.to(torch.float64)[:, None] * root, driver="gelsd"
    ).solution[:, 0]
    return float(solution[0]), solution[1:]


def lime_fit(
    z: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, n_features: int
) -> torch.Tensor:
    """Ribeiro et al.'s "highest weights" selection: fit on all ``M`` features, keep the ``K``
    largest ``|β_j|`` (ties: lower index first), refit on those; the others get 0. Shape ``M``."""
    _, beta = weighted_least_squares(z, y, weights)
    if n_features >= z.shape[1]:
        return beta
    order = torch.argsort(-beta.abs(), stable=True)[:n_features]
    chosen = torch.sort(order).values
    _, refit = weighted_least_squares(z[:, chosen], y, weights)
    out = torch.zeros_like(beta)
    out[chosen] = refit
    return out


def shapley_fit(z: torch.Tensor, y: torch.Tensor, full: float, empty: float) -> torch.Tensor:
    """Kernel SHAP regression with the two constraints of Lundberg & Lee enforced exactly:
    ``φ₀ = f(∅)`` and ``Σ_j φ_j = f(x) − f(∅)``. With ``Δ = f(x) − f(∅)``, eliminating
    ``φ_M = Δ − Σ_{j<M} φ_j`` leaves the ordinary least squares
    ``y_i − f(∅) − z_iM·Δ = Σ_{j<M} (z_ij − z_iM)·φ_j`` (unit weights: the samples are drawn
    from the kernel). Shape ``M``."""
    delta = full - empty
    n_features = z.shape[1]
    if n_features == 1:
        return torch.tensor([delta], dtype=torch.float64)
    z64 = z.to(torch.float64)
    target = y.to(torch.float64) - empty - z64[:, -1] * delta
    design = z64[:, :-1] - z64[:, -1:]
    phi = torch.linalg.lstsq(design, target[:, None], driver="gelsd").solution[:, 0]
    return torch.cat([phi, torch.tensor([delta - float(phi.sum())], dtype=torch.float64)])


def paint(segments: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Superpixel values painted back onto the H×W label map (float32)."""
    return values.to(torch.float32)[segments]
