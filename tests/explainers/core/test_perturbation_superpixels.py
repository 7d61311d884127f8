"""LIME and Kernel SHAP against Captum's ``Lime`` and ``KernelShap`` on the same superpixel
feature mask and the same samples, plus the properties that define them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from captum._utils.models.linear_model import SkLearnLinearRegression
from captum.attr import KernelShap, Lime
from torch import nn

from explainers import core
from explainers.core.methods import _superpixels as sp
from explainers.core.methods.kernelshap import coalitions

SIZE = 32
OPTIONS = {"n_segments": 12, "n_samples": 80}


def _tiny() -> tuple[nn.Module, core.Classifier]:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(128, 5),
    ).eval()
    return net, core.Classifier(net, input_size=SIZE)


def _images(n: int = 2) -> torch.Tensor:
    # Smooth colour blobs plus noise, so that SLIC finds regions (in model space, ImageNet norm).
    generator = torch.Generator().manual_seed(4)
    coarse = torch.rand(n, 3, 4, 4, generator=generator)
    smooth = nn.functional.interpolate(coarse, size=(SIZE, SIZE), mode="bilinear")
    pixels = (smooth + 0.05 * torch.randn(n, 3, SIZE, SIZE, generator=generator)).clamp(0, 1)
    mean = torch.tensor(core.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(core.IMAGENET_STD).view(1, 3, 1, 1)
    return (pixels - mean) / std


def _segments(clf: core.Classifier, x: torch.Tensor) -> list[torch.Tensor]:
    resolved = core.resolve_parameters("lime", **OPTIONS)
    return sp.segments_of(clf, x, resolved)


def _probability(module: nn.Module):
    return lambda inputs: torch.softmax(module(inputs), dim=1)


def _feeder(samples: torch.Tensor):
    def perturb(_original: torch.Tensor, **_kwargs: object) -> Iterator[torch.Tensor]:
        for row in samples:
            yield row[None].long()

    return perturb


def test_segments_are_contiguous_labels_of_the_image() -> None:
    _, clf = _tiny()
    segments = _segments(clf, _images())
    for labels in segments:
        assert labels.shape == (SIZE, SIZE) and labels.dtype == torch.int64
        count = int(labels.max()) + 1
        assert 4 <= count <= 30
        assert torch.equal(labels.unique(), torch.arange(count))


def test_lime_equals_captum_lime_with_the_same_samples_and_kernel() -> None:
    module, clf = _tiny()
    x, targets = _images(), [1, 3]
    ours = core.explain(clf, x, "lime", targets=targets, seed=2, n_features=100, **OPTIONS)
    for i, labels in enumerate(_segments(clf, x)):
        samples = sp.lime_samples(int(labels.max()) + 1, 80, torch.Generator().manual_seed(2))

        def similarity(_x: torch.Tensor, _p: torch.Tensor, z: torch.Tensor, **_: object):
            return sp.lime_kernel(z.float(), 0.25, "cosine").float()

        lime = Lime(
            _probability(module),
            interpretable_model=SkLearnLinearRegression(),
            similarity_func=similarity,
            perturb_func=_feeder(samples),
        )
        theirs = lime.attribute(
            x[i : i + 1],
            baselines=0.0,
            target=targets[i],
            feature_mask=labels[None, None],
            n_samples=80,
            perturbations_per_eval=16,
        )[0, 0]
        # Same weighted least squares on the same data: Captum fits in float32 (sklearn), the
        # engine in float64; measured ≤ 1e-6 of the largest weight, allowed 1e-4 (a different
        # sample, kernel or feature would change the weights by far more).
        scale = float(theirs.abs().max())
        assert float((ours[i] - theirs).abs().max()) <= 1e-4 * scale + 1e-8


def test_kernelshap_equals_captum_kernelshap_with_the_same_coalitions() -> None:
    module, clf = _tiny()
    x, targets = _images(), [0, 2]
    ours = core.explain(clf, x, "kernelshap", targets=targets, seed=5, **OPTIONS)
    for i, labels in enumerate(_segments(clf, x)):
        samples = coalitions(int(labels.max()) + 1, 80, seed=5)
        shap = KernelShap(_probability(module))
        shap.perturb_func = _feeder(samples)  # the same draws; Captum keeps its own kernel
        theirs = shap.attribute(
            x[i : i + 1],
            baselines=0.0,
            target=targets[i],
            feature_mask=labels[None, None],
            n_samples=80,
            perturbations_per_eval=16,
        )[0, 0]
        # Captum enforces local accuracy softly (weight 10⁶ on the full and empty coalitions,
        # fitted in float32); the engine exactly. Measured ≤ 3e-6 of the largest value (the
        # soft constraint's residual and float32 rounding), allowed 1e-4.
        scale = float(theirs.abs().max())
        assert float((ours[i] - theirs).abs().max()) <= 1e-4 * scale + 1e-8


def test_kernelshap_is_locally_accurate_and_exact_on_an_additive_model() -> None:
    _, clf = _tiny()
    x = _images(1)
    labels = _segments(clf, x)[0]
    n = int(labels.max()) + 1
    maps = core.explain(clf, x, "kernelshap", targets=[4], **OPTIONS)
    phi = torch.stack([maps[0][labels == j][0] for j in range(n)])
    with torch.no_grad():
        probabilities = torch.softmax(clf.module(torch.cat([x, torch.zeros_like(x)])), 1)[:, 4]
    assert abs(float(phi.sum()) - float(probabilities[0] - probabilities[1])) < 1e-5
    # A score additive over features: the regression recovers the Shapley values exactly.
    weights = torch.randn(n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    z = sp.shapley_samples(n, 60, torch.Generator().manual_seed(1))
    y = z.double() @ weights + 0.3
    estimate = sp.shapley_fit(z, y, full=float(weights.sum()) + 0.3, empty=0.3)
    torch.testing.assert_close(estimate, weights)


def test_lime_keeps_the_k_largest_weights() -> None:
    weights = torch.tensor([0.1, -2.0, 0.5, 3.0, -0.05, 1.0], dtype=torch.float64)
    z = sp.lime_samples(6, 200, torch.Generator().manual_seed(0))
    y = z.double() @ weights + 1.0
    pi = sp.lime_kernel(z, 0.25, "cosine")
    beta = sp.lime_fit(z, y, pi, n_features=3)
    assert torch.nonzero(beta).flatten().tolist() == [1, 3, 5]
    torch.testing.assert_close(beta[[1, 3, 5]], weights[[1, 3, 5]], rtol=0, atol=0.5)
    assert torch.allclose(sp.lime_fit(z, y, pi, n_features=6), weights)
    l2 = sp.lime_kernel(torch.tensor([[1.0, 1, 1, 1], [1, 1, 0, 0]]), 0.5, "l2")
    torch.testing.assert_close(l2, torch.tensor([1.0, torch.exp(torch.tensor(-2.0))]).double())


def test_seed_and_batch_independence() -> None:
    _, clf = _tiny()
    x = _images(2)
    for method in ("lime", "kernelshap"):
        both = core.explain(clf, x, method, targets=[1, 2], seed=3, **OPTIONS)
        alone = core.explain(clf, x[1:], method, targets=[2], seed=3, **OPTIONS)
        other = core.explain(clf, x[1:], method, targets=[2], seed=4, **OPTIONS)
        torch.testing.assert_close(both[1], alone[0], rtol=1e-4, atol=1e-6)
        assert not torch.allclose(alone, other)


@pytest.mark.parametrize(
    ("method", "options", "name"),
    [
        ("lime", {"n_segments": 1}, "n_segments"),
        ("lime", {"n_samples": 5}, "n_samples"),
        ("kernelshap", {"n_samples": 40, "n_segments": 50}, "n_samples"),
        ("lime", {"n_features": 0}, "n_features"),
        ("lime", {"kernel_width": 0.0}, "kernel_width"),
        ("kernelshap", {"n_samples": 10**6}, "n_samples"),
    ],
)
def test_out_of_range_options_name_the_option(
    method: str, options: dict[str, object], name: str
) -> None:
    _, clf = _tiny()
    with pytest.raises(core.ExplainerInputError, match=rf"^{name}:"):
        core.explain(clf, _images(1), method, **options)


@pytest.mark.parametrize("method", ["lime", "kernelshap"])
@pytest.mark.parametrize(
    ("options", "name", "why"),
    [
        # SLIC returns a single superpixel for these smooth images when asked for 2 (a constant
        # map otherwise), and 14 and 15 when asked for 12 (more than 13 samples can fit).
        ({"n_segments": 2, "n_samples": 80}, "n_segments", r"returned 1 superpixel for image 0"),
        ({"n_segments": 12, "n_samples": 13}, "n_samples", r"13 samples for the 14 superpixels"),
    ],
)
def test_the_superpixels_slic_returned_are_checked_before_any_model_evaluation(
    method: str, options: dict[str, int], name: str, why: str
) -> None:
    _, clf = _tiny()
    x = _images(2)
    resolved = core.resolve_parameters(method, **options)
    counts = [int(s.max()) + 1 for s in sp.segments_of(clf, x, resolved)]
    assert counts == ([1, 1] if name == "n_segments" else [14, 15])  # the premise of the case
    calls = [0]

    def count(_module: nn.Module, _inputs: object) -> None:
        calls[0] += 1

    handle = clf.network.register_forward_pre_hook(count)
    try:
        for targets in (None, [0, 1]):  # also before the top-1 pass of targets=None
            with pytest.raises(core.ExplainerInputError, match=rf"^{name}: .*{why}"):
                core.explain(clf, x, method, targets=targets, **options)
    finally:
        handle.remove()
    assert calls[0] == 0


def test_enough_superpixels_and_samples_pass_the_check() -> None:
    _, clf = _tiny()
    x = _images(2)
    for method in ("lime", "kernelshap"):  # 14 and 15 superpixels, 16 samples
        maps = core.explain(clf, x, method, targets=[0, 1], n_segments=12, n_samples=16)
        assert torch.isfinite(maps).all()
        assert all(len(m.unique()) > 1 for m in maps)


def test_lime_kernel_is_equation_3_with_the_cosine_distance() -> None:
    """``π(z) = exp(−D²/σ²)`` (Ribeiro et al. Eq. 3, METHODS.md), ``D`` = cosine distance of
    ``z`` to the all-ones instance: ``1 − k/(√k·√M)`` for ``k`` of ``M`` kept. The authors'
    ``lime_image`` uses ``√exp(−D²/σ²)``: ``σ·√2`` here gives its weights (README)."""
    z = torch.tensor([[1.0, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 0]])
    d = torch.tensor([1 - k / (k**0.5 * 2) for k in (4, 1, 3)], dtype=torch.float64)
    torch.testing.assert_close(sp.lime_kernel(z, 0.25, "cosine"), torch.exp(-(d**2) / 0.25**2))
    lime_image = torch.sqrt(torch.exp(-(d**2) / 0.25**2))
    torch.testing.assert_close(sp.lime_kernel(z, 0.25 * 2**0.5, "cosine"), lime_image)
