"""Ablation-CAM's weights ``α_k = (y_c − y_c^k) / y_c`` (METHODS.md): ``y_c`` in the precision
of the ablated passes, a finite map when ``y_c = 0``, and the sign of a negative logit.

No GPU here: float16 autocast happens only on CUDA, so the CUDA situation (the capture pass in
float32, the ablated passes under autocast) is reproduced on the CPU by giving the method's
forward-only passes bfloat16 CPU autocast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
from torch import nn

from explainers import core
from explainers.core.methods import ablationcam

K, SIDE = 4, 8


class GapNet(nn.Module):
    """``f = ReLU(conv(x))`` (K×4×4, the target layer ``features``), ``y = W·mean_ij(f) + b``."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.features = nn.Sequential(nn.Conv2d(3, K, 3, stride=2, padding=1), nn.ReLU())
        self.fc = nn.Linear(K, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


class ZeroLogitNet(GapNet):
    """As GapNet, but class 0's logit is ``ReLU(W_0·mean_ij(f) + b_0)``: 0 where negative."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.fc(self.features(x).mean(dim=(2, 3)))
        return torch.cat([z[:, :1].clamp(min=0), z[:, 1:]], dim=1)


def classifier(module: nn.Module) -> core.Classifier:
    return core.Classifier(module.eval(), target_layer="features", input_size=SIDE, device="cpu")


def image(seed: int = 2) -> torch.Tensor:
    return torch.randn(1, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(seed))


def by_hand(model: nn.Module, x: torch.Tensor, c: int) -> tuple[float, torch.Tensor, torch.Tensor]:
    """``y_c``, ``y_c^k`` for every k (channel k of ``features`` zeroed) and ``f`` (K×4×4)."""
    with torch.no_grad():
        f = model.features(x)
        y = float(model(x)[0, c])
        ablated = []
        for k in range(K):
            copy = f.clone()
            copy[:, k] = 0
            head = model.fc(copy.mean(dim=(2, 3)))
            if isinstance(model, ZeroLogitNet) and c == 0:
                head = head.clamp(min=0)
            ablated.append(float(head[0, c]))
    return y, torch.tensor(ablated, dtype=torch.float64), f[0].double()


@contextmanager
def bfloat16_forward_only(device: torch.device, autocast: bool = False) -> Iterator[None]:
    """``batching.forward_only`` as it behaves on CUDA, with CPU bfloat16 in place of float16."""
    with torch.inference_mode():
        if autocast:
            with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
                yield
        else:
            yield


def test_the_original_score_has_the_precision_of_the_ablated_passes(monkeypatch) -> None:
    """Only channel 0 feeds class 0 (``W_0k = 0`` for k ≥ 1): ablating channel k ≥ 1 changes
    nothing, so ``α_k = 0`` whatever the precision, if ``y_c`` and ``y_c^k`` share it. With
    ``y_c`` from the float32 capture pass and ``y_c^k`` from autocast passes, every α_k would be
    ``(y^{fp32} − y^{bf16}) / y^{fp32}`` instead."""
    model = GapNet()
    with torch.no_grad():
        model.fc.weight[0, 1:] = 0
        model.fc.bias[0] = 0.7137
    clf, x = classifier(model), image()
    with torch.no_grad():
        full = float(model(x)[0, 0])
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            low = float(model(x)[0, 0])
    assert abs(full - low) > 1e-4 * abs(full), "the test needs a visible rounding difference"

    monkeypatch.setattr(ablationcam, "forward_only", bfloat16_forward_only)
    spec = core.METHODS["ablationcam"]
    method = spec.implementation()
    for tail_batch_size in (128, 2):  # one pass with the reference, or several
        options = spec.resolve({"autocast": True, "tail_batch_size": tail_batch_size})
        batch = method.capture(clf, x, torch.tensor([0]), "features", options, gradients=False)
        assert torch.count_nonzero(batch.features.flatten(2).amax(2)) == K  # all channels run
        weights = method.channel_weights(batch)[0]
        assert float(weights[1:].abs().max()) <= 1e-6, weights
        # Channel 0: its drop W_00·mean(f^0) relative to y_c, within bfloat16 rounding.
        y, ablated, _ = by_hand(model, x, 0)
        assert float(weights[0]) == pytest.approx(float((y - ablated[0]) / y), rel=3e-2)


def test_a_zero_score_gives_a_finite_map_of_the_drops() -> None:
    """``y_c = 0`` exactly (a clamped logit): the denominator is ``+ε``, so the map is that of
    the drops ``Σ_k (y_c − y_c^k)·f^k`` scaled by ``1/ε`` (0/0 would make every value NaN)."""
    model = ZeroLogitNet()
    x = image()
    with torch.no_grad():
        model.fc.weight[0] = torch.tensor([-1.0, 0.5, -1.0, 0.5])
        h = model.features(x).mean(dim=(2, 3))[0]
        model.fc.bias[0] = -float(model.fc.weight[0] @ h) - 0.01  # W_0·h + b_0 = −0.01 < 0
    y, ablated, f = by_hand(model, x, 0)
    assert y == 0.0 and (ablated > 0).any(), "the test needs y_c = 0 and non-zero drops"
    maps = core.explain(classifier(model), x, "ablationcam", targets=0, relu=False)
    assert torch.isfinite(maps).all()
    eps = ablationcam.DENOMINATOR_EPS
    expected = torch.einsum("k,khw->hw", (y - ablated) / eps, f)
    torch.testing.assert_close(maps[0].double(), expected, rtol=1e-4, atol=1e-3)


def test_a_negative_logit_keeps_the_definitions_sign() -> None:
    """``y_c < 0``: ``α_k = (y_c − y_c^k) / y_c`` as defined, so a channel that *supports* the
    class (its ablation lowers ``y_c``) gets a negative weight."""
    model = GapNet()
    x = image()
    with torch.no_grad():
        model.fc.bias[1] = -float(model.fc.weight[1] @ model.features(x).mean(dim=(2, 3))[0]) - 2
    y, ablated, f = by_hand(model, x, 1)
    assert y < 0
    maps = core.explain(classifier(model), x, "ablationcam", targets=1, relu=False)
    expected = torch.einsum("k,khw->hw", (y - ablated) / y, f)
    torch.testing.assert_close(maps[0].double(), expected, rtol=1e-4, atol=1e-6)
    supporting = int(torch.argmax(y - ablated))  # the largest drop when ablated
    assert float(y - ablated[supporting]) > 0
    relu_maps = core.explain(classifier(model), x, "ablationcam", targets=1)
    torch.testing.assert_close(relu_maps[0].double(), expected.clamp(min=0), rtol=1e-4, atol=1e-6)


def test_relative_drops_guard() -> None:
    eps = ablationcam.DENOMINATOR_EPS
    reference = torch.tensor([2.0, -2.0, 0.0, eps / 10, -eps / 10])
    ablated = torch.tensor([1.0, -1.0, 1.0, 0.0, 0.0])
    drops = ablationcam.relative_drops(reference, ablated)
    expected = torch.tensor([0.5, 0.5, -1.0 / eps, (eps / 10) / eps, (-eps / 10) / -eps])
    torch.testing.assert_close(drops, expected)
