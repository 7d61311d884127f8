"""Bad input fails with an error naming the argument, before anything is computed, and leaves
nothing behind on the model (METHODS.md: hooks and flags released; issue: bad input)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from explainers import core
from explainers.core.hooks import count_hooks


@contextmanager
def forward_calls(clf: core.Classifier) -> Iterator[list[int]]:
    """Counts the forward passes of the classifier's network inside the block."""
    calls = [0]

    def hook(_module, _inputs):
        calls[0] += 1

    handle = clf.network.register_forward_pre_hook(hook)
    try:
        yield calls
    finally:
        handle.remove()


def assert_rejected(clf, argument: str, call) -> None:
    with forward_calls(clf) as calls, pytest.raises(core.ExplainerInputError) as error:
        call()
    assert error.value.argument == argument, str(error.value)
    assert str(error.value).startswith(f"{argument}: ")
    assert calls[0] == 0, "nothing may be computed before the input is validated"
    assert count_hooks(clf.network) == 0


@pytest.mark.parametrize(
    ("x", "why"),
    [
        (np.zeros((1, 3, 16, 16), dtype=np.float32), "numpy array"),
        (torch.zeros(3, 16, 16), "no batch dimension"),
        (torch.zeros(1, 1, 16, 16), "one channel"),
        (torch.zeros(0, 3, 16, 16), "empty batch"),
        (torch.zeros(1, 3, 16, 16, dtype=torch.uint8), "integer pixels"),
        (torch.full((1, 3, 16, 16), float("nan")), "NaN"),
    ],
)
def test_bad_images(tiny, x, why):
    assert_rejected(tiny, "x", lambda: core.explain(tiny, x, "gradient", targets=0))
    saliency = torch.rand(1, 4, 4)
    assert_rejected(tiny, "x", lambda: core.faithfulness(tiny, x, saliency, "dauc", targets=0))


@pytest.mark.parametrize(
    "targets", [5, -1, [0, 1], [0.0, 1.0, 2.0], [True, False, True], torch.tensor([0.5, 1, 2]), "0"]
)
def test_bad_targets(tiny, tiny_images, targets):
    x = tiny_images(3, 16)
    assert_rejected(tiny, "targets", lambda: core.explain(tiny, x, "gradcam", targets=targets))


@pytest.mark.parametrize("targets", [99, -1, [0, 1], [0.0, 1.0, 2.0]])
@pytest.mark.parametrize(
    "method", ["cam", "gradcam", "gradcampp", "xgradcam", "scorecam", "ablationcam"]
)
def test_bad_targets_before_the_target_layer_probe(tiny, tiny_images, method, targets):
    """With a ``target_layer`` option, a CAM method's check probes the layer with a forward
    pass: explicit targets are checked before it."""
    x = tiny_images(3, 16)
    assert_rejected(
        tiny,
        "targets",
        lambda: core.explain(tiny, x, method, targets=targets, target_layer="features"),
    )


@pytest.mark.parametrize("method", ["lime", "kernelshap"])
def test_bad_targets_before_the_superpixels(tiny, tiny_images, method, monkeypatch):
    from explainers.core.methods import _superpixels

    def refuse(*_args, **_kwargs):
        raise AssertionError("segmented before the targets were checked")

    monkeypatch.setattr(_superpixels, "segments_of", refuse)
    x = tiny_images(1, 16)
    assert_rejected(tiny, "targets", lambda: core.explain(tiny, x, method, targets=99))


def test_bad_targets_of_a_metric(tiny, tiny_images):
    x = tiny_images(1, 16)
    saliency = torch.rand(1, 4, 4)
    assert_rejected(
        tiny, "targets", lambda: core.faithfulness(tiny, x, saliency, "dauc", targets=9)
    )


def test_unknown_method_metric_option_or_seed(tiny, tiny_images):
    x = tiny_images(1, 16)
    assert_rejected(tiny, "method", lambda: core.explain(tiny, x, "grad-cam", targets=0))
    assert_rejected(tiny, "method", lambda: core.explain(tiny, x, None, targets=0))
    assert_rejected(tiny, "metric", lambda: core.faithfulness(tiny, x, torch.rand(1, 4, 4), "auc"))
    assert_rejected(tiny, "n_step", lambda: core.explain(tiny, x, "integrated_gradients", n_step=4))
    assert_rejected(tiny, "relu", lambda: core.explain(tiny, x, "gradcam", targets=0, relu="yes"))
    assert_rejected(tiny, "seed", lambda: core.explain(tiny, x, "smoothgrad", targets=0, seed=-3))
    assert_rejected(
        tiny,
        "blur_kernel",
        lambda: core.faithfulness(tiny, x, torch.rand(1, 4, 4), "iauc", targets=0, blur_kernel=4),
    )


def test_not_a_classifier(tiny_net, tiny_images):
    with pytest.raises(core.ExplainerInputError, match=r"^classifier:"):
        core.explain(tiny_net(), tiny_images(1, 16), "gradient")


@pytest.mark.parametrize(
    "saliency",
    [
        torch.rand(2, 4, 4),
        torch.rand(1, 1, 4, 4),
        torch.rand(1, 32, 32),
        torch.full((1, 4, 4), float("inf")),
        "map",
    ],
)
def test_bad_saliency(tiny, tiny_images, saliency):
    x = tiny_images(1, 16)
    assert_rejected(
        tiny, "saliency", lambda: core.faithfulness(tiny, x, saliency, "iic", targets=0)
    )


def test_bad_target_layer_option(tiny, tiny_images):
    x = tiny_images(1, 16)
    with pytest.raises(core.ExplainerInputError, match=r"^target_layer:.*no module named"):
        core.explain(tiny, x, "gradcam", targets=0, target_layer="features.99")
    with pytest.raises(core.ExplainerInputError, match=r"^target_layer:.*not N×K×h×w"):
        core.explain(tiny, x, "gradcam", targets=0, target_layer="fc")
    assert count_hooks(tiny.network) == 0
    maps = core.explain(tiny, x, "gradcam", targets=0, target_layer="features.3")  # after pooling
    assert maps.shape == (1, 8, 8)
    # features.4 (a convolution) was folded with features.5 (its batch norm): its own output
    # no longer exists in the execution copy, so it cannot be a target layer there.
    assert tiny.folded["features.4"] == "features.5"
    with pytest.raises(core.ExplainerInputError, match=r"^target_layer:.*folded"):
        core.explain(tiny, x, "gradcam", targets=0, target_layer="features.4")


def test_cam_methods_need_a_target_layer(tiny_images):
    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 4))
    clf = core.Classifier(mlp, input_size=16)
    assert_rejected(
        clf, "target_layer", lambda: core.explain(clf, tiny_images(1, 16), "gradcam", targets=0)
    )
    assert_rejected(
        clf, "method", lambda: core.explain(clf, tiny_images(1, 16), "guided_backprop", targets=0)
    )
    assert core.explain(clf, tiny_images(1, 16), "gradient", targets=0).shape == (1, 16, 16)


def test_a_failure_half_way_leaves_nothing_behind(tiny, tiny_images, monkeypatch):
    from explainers.core.methods import backprop, cam_base

    def broken(*args, **kwargs):
        raise RuntimeError("simulated failure inside the hooked region")

    tiny.network.train()  # flags that differ from what a computation sets: they must come back
    for parameter in tiny.network.parameters():
        parameter.requires_grad_(True)
    flags = [p.requires_grad for p in tiny.network.parameters()]
    training = [m.training for m in tiny.network.modules()]
    monkeypatch.setattr(backprop, "class_scores", broken)
    monkeypatch.setattr(cam_base, "class_scores", broken)
    for method in ("guided_backprop", "gradcam"):
        with pytest.raises(RuntimeError, match="simulated"):
            core.explain(tiny, tiny_images(2, 16), method, targets=0)
        assert count_hooks(tiny.network) == 0
        assert [p.requires_grad for p in tiny.network.parameters()] == flags
        assert [m.training for m in tiny.network.modules()] == training
    assert all(flags) and all(training)
