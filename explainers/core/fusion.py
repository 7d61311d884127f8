"""Rewrites of the classifier's private execution copy that keep its function and save time.

Applied by :class:`~explainers.core.classifier.Classifier` to its own deep copy of the model
(never to the module a user handed in), each only where a probe pass shows it is safe, and each
checked afterwards on a random probe batch (logits, and the input gradient for in-place
activations); a rewrite that does not pass its check is undone.

1. **Batch-norm folding.** In evaluation mode ``BN(z) = γ·(z − μ)/√(σ² + ε) + β`` is affine per
   channel, so ``BN(conv(x; W, b)) = conv(x; W·s, (b − μ)·s + β)``, ``s = γ/√(σ² + ε)``. Done
   when the BatchNorm2d runs once with running statistics, its input is exactly the output of a
   Conv2d that runs once, nothing else consumes that output (counted on the autograd graph) and
   the convolution is not an observed layer (the CAM target layer). The BatchNorm becomes
   ``nn.Identity`` under the same name. Logits agree to float32 rounding
   (``|Δ| ≤ 1e-4·max(1, max|logit|)``); gradients through clipped activations (ReLU6) can differ
   where a unit sits at a clipping point to within rounding.
2. **Same-padding folding.** A Conv2d whose forward first applies an ``nn.ZeroPad2d`` child
   (TensorFlow-style "same" convolutions, ``static_padding``) pads inside the convolution
   instead, which saves writing a padded copy of the tensor (and its backward). Asymmetric
   padding (more at the end, as for stride 2) becomes symmetric padding and a kernel grown by
   zero rows/columns in front (:func:`_pad_into_conv`). Same values.
3. **In-place activations.** ``nn.ReLU``/``nn.ReLU6`` whose every input has no other consumer run
   in place. Exact (same values and gradients; checked with a backward pass).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Collection
from typing import Any

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

ACTIVATIONS = (nn.ReLU, nn.ReLU6)


def _parent(network: nn.Module, name: str) -> tuple[nn.Module, str]:
    parent_name, _, attribute = name.rpartition(".")
    return (network.get_submodule(parent_name) if parent_name else network), attribute


def _consumer_counts(root: Any) -> Counter[Any]:
    """How many edges of the autograd graph below ``root`` point at each node."""
    counts: Counter[Any] = Counter()
    seen = {root}
    stack = [root]
    while stack:
        for child, _ in stack.pop().next_functions:
            if child is None:
                continue
            counts[child] += 1
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return counts


class _Trace:
    """One probe pass with gradients: call counts, module inputs/outputs, graph consumers."""

    def __init__(self, network: nn.Module, probe: torch.Tensor) -> None:
        self.calls: Counter[str] = Counter()
        self.inputs: dict[str, list[torch.Tensor]] = defaultdict(list)
        self.outputs: dict[int, tuple[str, torch.Tensor]] = {}
        handles = []
        for name, module in network.named_modules():
            if name and isinstance(module, (nn.Conv2d, nn.BatchNorm2d, *ACTIVATIONS)):
                handles.append(module.register_forward_hook(self._hook(name)))
        try:
            with torch.enable_grad():
                logits = network(probe.detach().clone().requires_grad_(True))
        finally:
            for handle in handles:
                handle.remove()
        root = logits.grad_fn if isinstance(logits, torch.Tensor) else None
        self.consumers = _consumer_counts(root) if root is not None else Counter()
        self.valid = root is not None

    def _hook(self, name: str) -> Callable[[nn.Module, tuple[Any, ...], Any], None]:
        def hook(_m: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            self.calls[name] += 1
            if inputs and isinstance(inputs[0], torch.Tensor):
                self.inputs[name].append(inputs[0])
            if isinstance(output, torch.Tensor):
                self.outputs[id(output)] = (name, output)

        return hook

    def sole_consumer(self, tensor: torch.Tensor) -> bool:
        return tensor.grad_fn is not None and self.consumers[tensor.grad_fn] == 1


def _outputs(network: nn.Module, probe: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and the input gradient of the summed top logits of ``probe``."""
    with torch.enable_grad():
        leaf = probe.detach().clone().requires_grad_(True)
        logits = network(leaf)
        (gradient,) = torch.autograd.grad(logits.max(dim=1).values.sum(), leaf)
    return logits.detach().float(), gradient.float()


def _agrees(reference: torch.Tensor, other: torch.Tensor, relative: float) -> bool:
    tolerance = relative * max(1.0, float(reference.abs().max()))
    return other.shape == reference.shape and float((other - reference).abs().max()) <= tolerance


def fold_batchnorm(
    network: nn.Module, probe: torch.Tensor, protected: Collection[str] = ()
) -> list[str]:
    """Rewrite 1 (see module docstring), in place; returns ``"conv+bn"`` names of the pairs."""
    trace = _Trace(network, probe)
    if not trace.valid:
        return []
    pairs = []
    for bn_name, inputs in trace.inputs.items():
        bn = network.get_submodule(bn_name)
        if not isinstance(bn, nn.BatchNorm2d) or trace.calls[bn_name] != 1:
            continue
        tensor = inputs[0]
        conv_name = trace.outputs.get(id(tensor), ("", None))[0]
        if (
            conv_name
            and trace.outputs[id(tensor)][1] is tensor
            and isinstance(network.get_submodule(conv_name), nn.Conv2d)
            and trace.calls[conv_name] == 1
            and conv_name not in protected
            and not bn.training
            and bn.running_mean is not None
            and bn.running_var is not None
            and trace.sole_consumer(tensor)
        ):
            pairs.append((conv_name, bn_name))
    if not pairs:
        return []
    with torch.inference_mode():
        reference = network(probe).float()
    undo = []
    for conv_name, bn_name in pairs:
        conv, bn = network.get_submodule(conv_name), network.get_submodule(bn_name)
        assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
        assert bn.running_mean is not None and bn.running_var is not None
        undo.append((conv, conv.weight, conv.bias, bn_name, bn))
        weight, bias = fuse_conv_bn_weights(
            conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
        )
        conv.weight = nn.Parameter(weight.detach(), requires_grad=False)
        conv.bias = nn.Parameter(bias.detach(), requires_grad=False)
        parent, attribute = _parent(network, bn_name)
        setattr(parent, attribute, nn.Identity())
    with torch.inference_mode():
        if _agrees(reference, network(probe).float(), 1e-4):
            return [f"{conv_name}+{bn_name}" for conv_name, bn_name in pairs]
    for conv, old_weight, old_bias, bn_name, bn in undo:
        conv.weight, conv.bias = old_weight, old_bias
        parent, attribute = _parent(network, bn_name)
        setattr(parent, attribute, bn)
    return []


def _pad_into_conv(conv: nn.Conv2d, pad: nn.ZeroPad2d) -> bool:
    """Make ``conv`` pad by itself what ``pad`` did; False when it cannot (rewrite 2).

    ``ZeroPad2d(left, right, top, bottom)`` with ``right ≥ left`` and ``bottom ≥ top`` followed
    by a convolution with kernel k equals a convolution with symmetric padding ``(bottom,
    right)`` and a kernel grown by ``bottom − top`` rows and ``right − left`` columns of zeros in
    front: output row i reads input rows ``s·i − bottom + b`` for kernel row b, and the first
    ``bottom − top`` of them meet zero weights, leaving rows ``s·i − top + a``, a = 0…k−1.
    """
    left, right, top, bottom = pad.padding
    if right < left or bottom < top or conv.dilation != (1, 1) or conv.padding != (0, 0):
        return False
    if conv.padding_mode != "zeros":
        return False
    rows, cols = bottom - top, right - left
    if rows or cols:
        weight = nn.functional.pad(conv.weight.detach(), (cols, 0, rows, 0))
        conv.weight = nn.Parameter(weight, requires_grad=False)
        conv.kernel_size = (weight.shape[2], weight.shape[3])
    conv.padding = (bottom, right)
    conv.static_padding = nn.Identity()
    return True


def fold_same_padding(network: nn.Module, probe: torch.Tensor) -> list[str]:
    """Rewrite 2 (see module docstring), in place; returns the names of the convolutions."""
    candidates = [
        (name, module, padding, module.weight, module.kernel_size)
        for name, module in network.named_modules()
        if isinstance(module, nn.Conv2d)
        and isinstance(padding := getattr(module, "static_padding", None), nn.ZeroPad2d)
    ]
    if not candidates:
        return []
    with torch.inference_mode():
        reference = network(probe).float()
    done = [entry for entry in candidates if _pad_into_conv(entry[1], entry[2])]
    with torch.inference_mode():
        if _agrees(reference, network(probe).float(), 1e-5):
            return [entry[0] for entry in done]
    for _name, conv, pad, weight, kernel in done:
        conv.weight, conv.kernel_size, conv.padding = weight, kernel, (0, 0)
        conv.static_padding = pad
    return []


def inplace_activations(network: nn.Module, probe: torch.Tensor) -> list[str]:
    """Rewrite 3 (see module docstring), in place; returns the names of the activations."""
    trace = _Trace(network, probe)
    if not trace.valid:
        return []
    chosen = []
    for name, module in network.named_modules():
        inputs = trace.inputs.get(name, [])
        if (
            type(module) in ACTIVATIONS
            and not module.inplace
            and inputs
            and all(trace.sole_consumer(t) for t in inputs)
        ):
            chosen.append((name, module))
    if not chosen:
        return []
    reference = _outputs(network, probe)
    for _name, module in chosen:
        module.inplace = True
    try:
        logits, gradient = _outputs(network, probe)
        if _agrees(reference[0], logits, 1e-6) and _agrees(reference[1], gradient, 1e-6):
            return [name for name, _ in chosen]
    except RuntimeError:  # an input saved for backward by its producer was overwritten
        pass
    for _name, module in chosen:
        module.inplace = False
    return []


def optimize(network: nn.Module, probe: torch.Tensor, protected: Collection[str] = ()) -> list[str]:
    """Apply the three rewrites to ``network`` (an execution copy); returns what was done."""
    done = [f"fold {pair}" for pair in fold_batchnorm(network, probe, protected)]
    done += [f"pad {name}" for name in fold_same_padding(network, probe)]
    done += [f"inplace {name}" for name in inplace_activations(network, probe)]
    return done
