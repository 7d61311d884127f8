"""Occlusion against Captum's ``Occlusion`` and against the score drops computed by hand."""

from __future__ import annotations

import pytest
import torch
from captum.attr import Occlusion
from torch import nn

from explainers import core


def _tiny(size: int = 24) -> tuple[nn.Module, core.Classifier]:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(3),
        nn.Flatten(),
        nn.Linear(54, 5),
    ).eval()
    return net, core.Classifier(net, input_size=size)


def _images(n: int = 2, size: int = 24) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(2))


def _probability(module: nn.Module):
    return lambda inputs: torch.softmax(module(inputs), dim=1)


@pytest.mark.parametrize(("window", "stride"), [(8, 8), (8, 4), (6, 3)])
def test_input_output_equals_captum_occlusion(window: int, stride: int) -> None:
    # Sizes where (24 − window) is a multiple of the stride: Captum and the engine then occlude
    # the same positions (Captum also adds a clipped last patch otherwise; we do not).
    module, clf = _tiny()
    x, targets = _images(), [1, 4]
    ours = core.explain(
        clf, x, "occlusion", targets=targets, window=window, stride=stride, output="input"
    )
    theirs = Occlusion(_probability(module)).attribute(
        x,
        sliding_window_shapes=(3, window, window),
        strides=(3, stride, stride),
        baselines=0.0,
        target=targets,
        perturbations_per_eval=8,
    )
    assert ours.shape == (2, 24, 24)
    # Same drops of the same probabilities; the engine's model is a batch-norm-free copy in
    # channels_last, Captum's the module itself: float32 rounding of probabilities (≤ 1e-6).
    torch.testing.assert_close(ours, theirs[:, 0], rtol=1e-4, atol=2e-6)
    torch.testing.assert_close(theirs[:, 0], theirs[:, 2])  # all channels occluded together


def test_grid_output_is_the_score_drop_per_position() -> None:
    module, clf = _tiny()
    x = _images(1)
    drops = core.explain(clf, x, "occlusion", targets=[2], window=8, stride=8, baseline=0.5)
    assert drops.shape == (1, 3, 3)
    with torch.no_grad():
        full = torch.softmax(module(x), 1)[0, 2]
        for u in range(3):
            for v in range(3):
                occluded = x.clone()
                occluded[:, :, 8 * u : 8 * u + 8, 8 * v : 8 * v + 8] = 0.5
                expected = full - torch.softmax(module(occluded), 1)[0, 2]
                assert abs(float(drops[0, u, v] - expected)) < 2e-6


def test_batch_independence_and_bad_options() -> None:
    _, clf = _tiny()
    x = _images(3)
    together = core.explain(clf, x, "occlusion", targets=[0, 1, 2], window=6, stride=6)
    alone = core.explain(clf, x[1:2], "occlusion", targets=[1], window=6, stride=6)
    torch.testing.assert_close(together[1], alone[0], rtol=1e-5, atol=1e-7)
    for options, name in [
        ({"window": 0}, "window"),
        ({"window": 25}, "window"),
        ({"window": 6, "stride": 40}, "stride"),
        ({"window": 6, "output": "pixels"}, "output"),
    ]:
        with pytest.raises(core.ExplainerInputError, match=rf"^{name}:"):
            core.explain(clf, x[:1], "occlusion", **options)
