"""Context managers for everything that touches a network: modes, gradient flags and hooks.

Each one restores what it changed when its block ends, also when the block raises, so a network
is handed back with the same training flags, the same ``requires_grad`` flags and no hook left.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from explainers.core.errors import ExplainerInputError

#: Activations whose backward pass guided backpropagation rewrites, with their upper bound.
GUIDED_ACTIVATIONS: tuple[tuple[type[nn.Module], float], ...] = (
    (nn.ReLU, math.inf),
    (nn.ReLU6, 6.0),
)


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule in evaluation mode; restore each one's ``training`` flag after."""
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in flags:
            m.training = training


@contextmanager
def frozen_parameters(module: nn.Module) -> Iterator[nn.Module]:
    """Set ``requires_grad=False`` on every parameter (no weight gradients are ever needed);
    restore each flag after."""
    # Parameters of a loaded TorchScript module may be non-leaf tensors whose flag cannot be
    # changed; they are left as they are (gradients then also flow to them, which is harmless).
    flags = [(p, p.requires_grad) for p in module.parameters() if p.is_leaf]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, requires_grad in flags:
            p.requires_grad_(requires_grad)


def find_layer(network: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (raises ExplainerInputError naming ``target_layer``)."""
    modules = dict(network.named_modules())
    if not name or name not in modules:
        raise ExplainerInputError("target_layer", f"the model has no module named {name!r}")
    return modules[name]


@dataclass
class Captured:
    """The output of a layer seen during one forward pass (see :func:`capture_layer`)."""

    layer: str
    output: torch.Tensor | None = None
    calls: int = 0

    def features(self) -> torch.Tensor:
        """The captured N×K×h×w feature maps (raises if the layer did not run exactly once)."""
        if self.calls != 1 or self.output is None:
            raise ExplainerInputError(
                "target_layer",
                f"{self.layer!r} ran {self.calls} times in one forward pass; "
                "choose a module that runs exactly once",
            )
        if self.output.dim() != 4:
            raise ExplainerInputError(
                "target_layer",
                f"{self.layer!r} outputs shape {tuple(self.output.shape)}, "
                "not N×K×h×w feature maps",
            )
        return self.output


@contextmanager
def capture_layer(
    network: nn.Module, layer: str, *, requires_grad: bool = False
) -> Iterator[Captured]:
    """Record the output of ``layer`` during the forward passes run inside the block.

    With ``requires_grad`` the recorded tensor is a fresh leaf that requires grad, so that
    ``torch.autograd.grad(score, captured.output)`` gives ``∂score/∂f`` while nothing before the
    layer is recorded for backward (it runs at inference cost). The rest of the network gets a
    copy, so in-place operations after the layer cannot alter what was recorded.
    """
    captured = Captured(layer)

    def hook(_module: nn.Module, _inputs: object, output: object) -> torch.Tensor | None:
        captured.calls += 1
        if not isinstance(output, torch.Tensor):
            raise ExplainerInputError(
                "target_layer", f"{layer!r} outputs {type(output).__name__}, not a tensor"
            )
        if requires_grad:
            leaf = output.detach().requires_grad_(True)
            captured.output = leaf
            return leaf.clone()
        captured.output = output
        return output.clone()

    handle = find_layer(network, layer).register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


@contextmanager
def replace_layer_output(
    network: nn.Module, layer: str, replace: Callable[[torch.Tensor], torch.Tensor]
) -> Iterator[None]:
    """Replace the output ``f`` of ``layer`` by ``replace(f)`` in the forward passes inside."""

    def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
        return replace(output)

    handle = find_layer(network, layer).register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _positive(gradient: torch.Tensor) -> torch.Tensor:
    return gradient.clamp(min=0)


def guided_modules(network: nn.Module) -> list[tuple[nn.Module, float]]:
    """The ReLU-type modules of ``network`` that guided backpropagation rewrites."""
    found = []
    for module in network.modules():
        for kind, upper in GUIDED_ACTIVATIONS:
            if type(module) is kind:
                found.append((module, upper))
    return found


@contextmanager
def guided_relus(network: nn.Module) -> Iterator[int]:
    """Guided backpropagation (Springenberg et al. 2015) on every ``nn.ReLU``/``nn.ReLU6``.

    The gradient arriving at such a unit's output is clipped to its positive part before the
    unit's own backward multiplies it by ``1[0 < a < upper]``, so the unit passes
    ``max(g, 0) · 1[0 < a < upper]``: only positive gradients through active units (``upper`` =
    6 for ReLU6, ∞ for ReLU). Yields the number of modules rewritten.
    """

    def hook(_module: nn.Module, _inputs: object, output: object) -> None:
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(_positive)

    handles = [module.register_forward_hook(hook) for module, _ in guided_modules(network)]
    try:
        yield len(handles)
    finally:
        for handle in handles:
            handle.remove()


def count_hooks(module: nn.Module) -> int:
    """How many forward/backward hooks of any kind are registered on ``module`` and below."""
    names = (
        "_forward_hooks",
        "_forward_pre_hooks",
        "_backward_hooks",
        "_backward_pre_hooks",
        "_state_dict_hooks",
        "_load_state_dict_pre_hooks",
    )
    return sum(len(getattr(m, name, {}) or {}) for m in module.modules() for name in names)
