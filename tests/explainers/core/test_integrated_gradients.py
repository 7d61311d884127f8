"""Integrated gradients: quadrature rules, baseline, completeness (Σ IG ≈ y(x) − y(x̃))."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from explainers import core
from explainers.core.methods.integrated_gradients import (
    QUADRATURES,
    ig_baseline,
    integrated_gradients_attributions,
    quadrature,
)


@pytest.mark.parametrize("rule", QUADRATURES)
def test_quadrature_weights_sum_to_one_and_nodes_lie_in_the_unit_interval(rule):
    alphas, weights = quadrature(rule, 7)
    assert alphas.shape == weights.shape == (7,)
    assert float(alphas.min()) >= 0 and float(alphas.max()) <= 1
    assert float(weights.sum()) == pytest.approx(1.0, abs=1e-6)


def test_quadrature_rules_integrate_what_they_should_exactly():
    alphas, weights = (t.double() for t in quadrature("gausslegendre", 5))
    assert float((weights * alphas**9).sum()) == pytest.approx(1 / 10, rel=1e-6)  # degree 2n − 1
    alphas, weights = (t.double() for t in quadrature("riemann_trapezoid", 5))
    assert float((weights * (3 * alphas + 1)).sum()) == pytest.approx(2.5, rel=1e-6)
    assert alphas.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    alphas, _ = quadrature("riemann_middle", 4)
    assert alphas.tolist() == [0.125, 0.375, 0.625, 0.875]


class SmoothNet(nn.Module):
    """A small smooth network: quadrature error vanishes quickly, completeness is tight."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1), nn.Softplus(), nn.Conv2d(6, 4, 3)
        )
        self.fc = nn.Linear(4, 3)
        with torch.no_grad():
            self.fc.weight.mul_(10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.tanh(self.features(x)).mean(dim=(2, 3)))


def completeness_gap(clf: core.Classifier, x: torch.Tensor, targets: torch.Tensor, **options):
    attributions = integrated_gradients_attributions(clf, x, targets, **options)
    baseline = ig_baseline(clf, x, options.get("baseline", "black"))
    rows = torch.arange(x.shape[0])
    delta = clf.logits(x)[rows, targets] - clf.logits(baseline)[rows, targets]
    return attributions.sum(dim=(1, 2, 3)).cpu() - delta, delta


def test_black_baseline_is_zero_pixels_in_model_space(tiny):
    x = torch.zeros(1, 3, 16, 16)
    black = ig_baseline(tiny, x, "black")
    mean = torch.tensor(core.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(core.IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(black, ((0 - mean) / std).expand_as(x))
    assert torch.equal(ig_baseline(tiny, x, "zero"), torch.zeros_like(x))


@pytest.mark.parametrize("baseline", ["black", "zero"])
def test_completeness_on_a_smooth_network(baseline):
    clf = core.Classifier(SmoothNet(), input_size=8, device="cpu")
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    targets = torch.tensor([0, 1, 2])
    gap, delta = completeness_gap(clf, x, targets, n_steps=50, baseline=baseline)
    assert float(delta.abs().min()) > 1e-2, "a degenerate case would prove nothing"
    torch.testing.assert_close(
        gap, torch.zeros_like(gap), rtol=0, atol=1e-4 * float(delta.abs().max())
    )
    rough, _ = completeness_gap(clf, x, targets, n_steps=1, quadrature_rule="riemann_left")
    assert float(rough.abs().max()) > 10 * float(gap.abs().max()), "the check must be able to fail"


@pytest.mark.slow
def test_completeness_on_the_real_model(lite0, photos):
    """EfficientNet-Lite0 is piecewise linear (ReLU6): the path integral converges slowly.
    Measured quadrature error at 128 Gauss–Legendre nodes: 0.1–2.3 % of y(x) − y(x̃)."""
    x = photos[:1]
    targets = lite0.predict(x).to(lite0.device)
    gap, delta = completeness_gap(lite0, x, targets, n_steps=128, batch_size=16)
    assert float(gap.abs().max()) < 0.05 * float(delta.abs().min()), (gap, delta)


def test_the_map_is_the_absolute_channel_sum(tiny, tiny_images):
    x = tiny_images(2, 16, seed=8)
    targets = torch.tensor([1, 3])
    attributions = integrated_gradients_attributions(tiny, x, targets, n_steps=8)
    maps = core.explain(tiny, x, "integrated_gradients", targets=targets.tolist(), n_steps=8)
    torch.testing.assert_close(maps, attributions.sum(dim=1).abs())


def test_unknown_normalisation_rejects_the_black_baseline(tiny_net, tiny_images):
    clf = core.Classifier(
        tiny_net(), input_size=16, preprocess=lambda images: torch.zeros(1, 3, 16, 16)
    )
    assert clf.pixel_value(0.0) is None
    with pytest.raises(core.ExplainerInputError, match=r"^baseline:"):
        core.explain(clf, tiny_images(1, 16), "integrated_gradients", targets=0)
    maps = core.explain(clf, tiny_images(1, 16), "integrated_gradients", targets=0, baseline="zero")
    assert np.isfinite(maps.numpy()).all()
