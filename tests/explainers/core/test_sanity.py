"""Sanity check (Adebayo et al. 2018): cascading randomisation separates the maps of a trained
model from those of its randomised copies, and fails a method that ignores the model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from explainers import core
from explainers.core.hooks import count_hooks
from explainers.core.sanity import default_units, randomize_, sanity_check, similarities


class EdgeModel(nn.Module):
    """A classifier whose 'attention maps' are the image's gradient magnitude: they do not
    depend on any parameter, so a sanity check must leave them unchanged."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).mean(dim=(2, 3)))

    def attention_maps(self, x: torch.Tensor) -> torch.Tensor:
        gray = x.mean(dim=1, keepdim=True)
        dy = (gray[:, :, 1:, :-1] - gray[:, :, :-1, :-1]).abs()
        dx = (gray[:, :, :-1, 1:] - gray[:, :, :-1, :-1]).abs()
        return dx + dy


def test_curve_layout_and_the_model_handed_back_unchanged(tiny, tiny_images) -> None:
    x = tiny_images(2, 16, seed=1)
    before = {k: v.clone() for k, v in tiny.network.state_dict().items()}
    curve = sanity_check(tiny, x, "gradcam", targets=[0, 2])
    assert curve.layers == ("fc", "features.4", "features.0")
    assert curve.spearman.shape == curve.ssim.shape == (4, 2)
    assert curve.maps.shape == (4, 2, 8, 8)
    assert torch.equal(curve.spearman[0], torch.ones(2)) and torch.equal(
        curve.ssim[0], torch.ones(2)
    )
    torch.testing.assert_close(curve.maps[0], core.explain(tiny, x, "gradcam", targets=[0, 2]))
    assert all(torch.equal(v, before[k]) for k, v in tiny.network.state_dict().items())
    assert count_hooks(tiny.network) == 0
    # Seeded: the same randomisation gives the same curve.
    again = sanity_check(tiny, x, "gradcam", targets=[0, 2])
    torch.testing.assert_close(again.spearman, curve.spearman, equal_nan=True)


def test_a_method_that_ignores_the_model_fails_the_check(tiny_images) -> None:
    clf = core.Classifier(EdgeModel(), input_size=16, device="cpu")
    curve = sanity_check(clf, tiny_images(2, 16, seed=4), "attention")
    assert curve.layers == ("fc", "conv")
    torch.testing.assert_close(curve.spearman, torch.ones(3, 2))
    torch.testing.assert_close(curve.ssim, torch.ones(3, 2))


def test_similarities_and_randomisation_by_hand() -> None:
    a = torch.arange(16.0).reshape(1, 4, 4)
    rho, ssim = similarities(a, a**2)  # monotone: rank correlation 1, SSIM < 1
    assert float(rho[0]) == pytest.approx(1.0) and float(ssim[0]) < 1.0
    rho, _ = similarities(a, -a)
    assert float(rho[0]) == pytest.approx(-1.0)
    rho, _ = similarities(a, -a, absolute=True)
    assert float(rho[0]) == pytest.approx(1.0)
    rho, ssim = similarities(a, torch.zeros(1, 4, 4))
    assert torch.isnan(rho[0])  # a constant map has no ranks
    layer = nn.Linear(200, 100)
    mean, std = float(layer.weight.detach().mean()), float(layer.weight.detach().std())
    old = layer.weight.detach().clone()
    randomize_(layer, torch.Generator().manual_seed(0))
    assert not torch.equal(old, layer.weight)
    weight = layer.weight.detach()
    assert abs(float(weight.mean()) - mean) < 0.01 and abs(float(weight.std()) - std) < 0.01


def test_bad_layers_are_named(tiny, tiny_images) -> None:
    with pytest.raises(core.ExplainerInputError, match=r"^layers: .*'nope'"):
        sanity_check(tiny, tiny_images(1, 16), "gradcam", layers=["fc", "nope"])


@pytest.mark.slow
def test_randomising_the_top_layers_separates_real_maps(lite0, photos) -> None:
    x = photos[:2]
    with lite0.session():
        units = default_units(lite0.network, lite0.prepare(x[:1]))
    assert units[0] == "classifier" and len(units) >= 10
    curve = sanity_check(lite0, x, "gradient", layers=units[:4])
    means = curve.mean()
    assert means["spearman"][0] == 1.0 and means["ssim"][0] == 1.0
    # Trained vs randomised top 4 units (measured: Spearman ≈ 0.3, SSIM ≈ 0.3 on these photos);
    # a map that survived the randomisation would stay near 1, as the edge map above does.
    assert max(curve.spearman[-1].tolist()) < 0.6
    assert max(curve.ssim[-1].tolist()) < 0.6
    # The similarity falls as the cascade goes down (allowing small non-monotone steps).
    assert means["spearman"][-1] < means["spearman"][1] + 0.05


class ConstantModel(EdgeModel):
    """Attention maps that are constant: no ranks, so Spearman is undefined at every step,
    row 0 (the trained model against itself) included."""

    def attention_maps(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ones(x.shape[0], 1, 4, 4) * self.fc.bias[0].detach()


def test_row_zero_is_computed_like_every_other_row(tiny, tiny_images) -> None:
    clf = core.Classifier(ConstantModel(), input_size=16, device="cpu")
    curve = sanity_check(clf, tiny_images(2, 16, seed=4), "attention")
    assert torch.isnan(curve.spearman).all()  # a constant map has no ranks, trained or not
    rho, ssim = similarities(curve.maps[0], curve.maps[0])
    torch.testing.assert_close(curve.spearman[0], rho, equal_nan=True)
    torch.testing.assert_close(curve.ssim[0], ssim, equal_nan=True)
    # Absolute values: row 0 uses the same comparison as the others.
    x = tiny_images(2, 16, seed=1)
    curve = sanity_check(tiny, x, "gradcam", targets=[0, 2], layers=["fc"], absolute=True)
    rho, ssim = similarities(curve.maps[0], curve.maps[0], absolute=True)
    torch.testing.assert_close(curve.spearman[0], rho)
    torch.testing.assert_close(curve.ssim[0], ssim)


@pytest.mark.parametrize(
    ("layers", "why"),
    [
        (["fc", "features.2"], r"'features.2' \(ReLU\) has no parameters"),
        (["pool"], r"'pool' \(AdaptiveAvgPool2d\) has no parameters"),
        (["features.5"], r"'features.5' is a batch norm folded into .*'features.4'"),
        ([], r"no module named"),
        ("fc", r"expected a list of module names"),
    ],
)
def test_layers_that_would_randomise_nothing_are_rejected(tiny, tiny_images, layers, why):
    assert tiny.folded["features.4"] == "features.5"  # the execution copy folded the batch norm
    calls = [0]

    def count(_module, _inputs):
        calls[0] += 1

    handle = tiny.network.register_forward_pre_hook(count)
    try:
        with pytest.raises(core.ExplainerInputError, match=rf"^layers: .*{why}"):
            sanity_check(tiny, tiny_images(1, 16), "gradcam", layers=layers)
    finally:
        handle.remove()
    assert calls[0] == 0, "the layers are checked before any forward pass"
    assert count_hooks(tiny.network) == 0
