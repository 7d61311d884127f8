"""The engineering points of the engine issues, observed on the network's forward passes.

- memory is bounded by ``batch_size``: no forward pass of any method or metric holds more than
  ``batch_size`` inputs, however many masks, samples, steps or images there are;
- forward-only work runs under ``torch.inference_mode`` (the gradient family does not);
- inputs reach the network in ``channels_last`` memory format;
- float16 autocast is entered only on CUDA (the code path exists; on this CPU it is never taken).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
import torch

from explainers import core
from explainers.core import batching

#: Methods whose model evaluations are all forward-only (no gradient of any kind).
FORWARD_ONLY = {
    "cam",
    "activation_map",
    "scorecam",
    "ablationcam",
    "rise",
    "occlusion",
    "lime",
    "kernelshap",
    "decam",
}
#: Options that make every method evaluate many more inputs than ``batch_size``.
MANY = {
    "n_steps": 11,
    "n_samples": 40,
    "n_masks": 50,
    "population": 8,
    "generations": 2,
    "window": 4,
    "stride": 4,
    "n_segments": 8,
    "tail_batch_size": 3,
}
BATCH = 3


@dataclass
class Passes:
    """What the network saw in each forward pass inside :func:`observe`."""

    sizes: list[int] = field(default_factory=list)
    inference: list[bool] = field(default_factory=list)
    channels_last: list[bool] = field(default_factory=list)


@contextmanager
def observe(clf: core.Classifier) -> Iterator[Passes]:
    passes = Passes()

    def hook(_module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        x = inputs[0]
        passes.sizes.append(int(x.shape[0]))
        passes.inference.append(torch.is_inference_mode_enabled())
        passes.channels_last.append(x.is_contiguous(memory_format=torch.channels_last))

    handle = clf.network.register_forward_pre_hook(hook)
    try:
        yield passes
    finally:
        handle.remove()


def many(method: str) -> dict[str, object]:
    options = core.METHODS[method].options
    return {name: value for name, value in MANY.items() if name in options}


@pytest.mark.parametrize("method", sorted(m for m in core.METHODS if m != "attention"))
def test_every_pass_holds_at_most_batch_size_inputs(method, tiny, tiny_images):
    x = tiny_images(5, 16, seed=8)
    targets = [0, 1, 2, 3, 4]
    with observe(tiny) as passes:
        core.explain(tiny, x, method, targets=targets, batch_size=BATCH, **many(method))
    assert passes.sizes, "the network never ran"
    assert max(passes.sizes) <= BATCH, passes.sizes
    assert sum(passes.sizes) >= x.shape[0], "every image must be evaluated"
    assert all(passes.channels_last), "inputs must reach the network in channels_last"
    if method in FORWARD_ONLY:
        assert all(passes.inference), "forward-only work must run under inference_mode"
    else:
        assert not all(passes.inference), "gradients cannot be taken in inference mode"


@pytest.mark.parametrize("metric", sorted(core.METRICS))
def test_metrics_hold_at_most_batch_size_inputs_in_inference_mode(metric, tiny, tiny_images):
    x = tiny_images(4, 16, seed=9)
    saliency = torch.rand(4, 8, 8, generator=torch.Generator().manual_seed(2))
    with observe(tiny) as passes:
        core.faithfulness(tiny, x, saliency, metric, targets=[0, 1, 2, 3], batch_size=BATCH)
    # a multi-step curve has 8·8 + 1 points per image: far more inputs than one batch
    expected = 4 * 65 if core.METRICS[metric].kind == "multi_step" else 8
    assert sum(passes.sizes) == expected
    assert max(passes.sizes) <= BATCH
    assert all(passes.inference) and all(passes.channels_last)


class AutocastCalls:
    """Stands in for ``torch.autocast`` (CUDA cannot run here) and records how it is entered."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, torch.dtype | None]] = []

    def __call__(self, device_type: str, dtype: torch.dtype | None = None) -> AutocastCalls:
        self.calls.append((device_type, dtype))
        return self

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def test_autocast_is_entered_on_cuda_only(monkeypatch):
    calls = AutocastCalls()
    monkeypatch.setattr(torch, "autocast", calls)
    with batching.forward_only(torch.device("cpu"), autocast=True):
        assert torch.is_inference_mode_enabled()
    with batching.forward_only(torch.device("cuda"), autocast=False):
        pass
    assert calls.calls == []
    with batching.forward_only(torch.device("cuda"), autocast=True):
        assert torch.is_inference_mode_enabled()
    assert calls.calls == [("cuda", torch.float16)]


@pytest.mark.parametrize(
    ("method", "options"),
    [("scorecam", {}), ("rise", {"n_masks": 8}), ("occlusion", {"window": 4, "stride": 4})],
)
@pytest.mark.parametrize("autocast", [True, False])
def test_the_autocast_option_reaches_the_forward_passes(
    method, options, autocast, tiny, tiny_images, monkeypatch
):
    seen: list[bool] = []
    original = batching.forward_only

    @contextmanager
    def recording(device: torch.device, autocast: bool = False) -> Iterator[None]:
        seen.append(autocast)
        with original(device, autocast):
            yield

    monkeypatch.setattr(batching, "forward_only", recording)
    on = core.explain(
        tiny, tiny_images(2, 16), method, targets=[0, 1], autocast=autocast, **options
    )
    assert autocast in seen
    assert torch.isfinite(on).all()
    # on the CPU the option changes nothing
    monkeypatch.setattr(batching, "forward_only", original)
    off = core.explain(
        tiny, tiny_images(2, 16), method, targets=[0, 1], autocast=not autocast, **options
    )
    torch.testing.assert_close(on, off, rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(FORWARD_ONLY - {"cam", "activation_map"}))
def test_methods_with_many_forward_passes_offer_autocast(name):
    """CAM and the activation map run one pass; every other forward-only method runs many."""
    assert core.METHODS[name].defaults.get("autocast") is True
