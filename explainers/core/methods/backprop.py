"""Shared machinery of the backpropagation family: input gradients, in bounded batches.

All gradients are taken on the classifier's execution copy (parameters never require grad, so no
weight gradient is ever computed), with ``torch.autograd.grad`` with respect to the inputs only.
Images are processed one at a time when a method evaluates many copies of each (integrated
gradients, SmoothGrad, VarGrad), with the copies cut into near-equal batches of at most
``batch_size``: the map of an image never depends on the other images of the call.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import TYPE_CHECKING

import torch

from explainers.core.batching import class_scores, even_chunks
from explainers.core.errors import ExplainerInputError
from explainers.core.hooks import guided_modules, guided_relus
from explainers.core.registry import Option, batch_size_option, score_option

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier

#: Builds the model inputs of copies ``slice`` of one image (B×3×H×W).
BuildCopies = Callable[[slice], torch.Tensor]


def backprop_options(batch_size: int = 8) -> dict[str, Option]:
    return {"score": score_option("logit"), "batch_size": batch_size_option(batch_size)}


def input_gradients(
    classifier: Classifier,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    score: str,
    guided: bool = False,
) -> torch.Tensor:
    """``∂y_c/∂x`` of a batch of model inputs (B×3×H×W) in one forward and backward pass.

    ``y_c`` is the logit or the softmax probability of ``targets`` (B). With ``guided`` every
    ``nn.ReLU``/``nn.ReLU6`` passes only positive gradients (guided backpropagation). The
    samples of a batch are independent (evaluation mode), so the gradient of the summed scores
    is each sample's own gradient.
    """
    with ExitStack() as stack:
        stack.enter_context(classifier.session())
        stack.enter_context(torch.inference_mode(False))
        stack.enter_context(torch.enable_grad())
        if guided:
            stack.enter_context(guided_relus(classifier.network))
        leaf = classifier.prepare(inputs).clone().requires_grad_(True)
        logits = classifier.network(leaf)
        scores = class_scores(logits, targets, score)
        (gradient,) = torch.autograd.grad(scores.sum(), leaf)
    return gradient.float()


def batched_input_gradients(
    classifier: Classifier,
    x: torch.Tensor,
    targets: torch.Tensor,
    *,
    score: str,
    batch_size: int,
    guided: bool = False,
) -> torch.Tensor:
    """``∂y_c/∂x`` of N images (N×3×H×W), ``batch_size`` images per pass."""
    parts = [
        input_gradients(classifier, x[part], targets[part], score=score, guided=guided)
        for part in even_chunks(x.shape[0], batch_size)
    ]
    return torch.cat(parts)


def copies_gradients(
    classifier: Classifier,
    copies: int,
    build: BuildCopies,
    target: int,
    *,
    score: str,
    batch_size: int,
    accumulate: Callable[[torch.Tensor, slice], None],
) -> None:
    """Gradients of ``copies`` model inputs of one image (built by ``build(slice)``), handed to
    ``accumulate(gradients, slice)`` batch by batch, so only one batch is held at a time."""
    for part in even_chunks(copies, batch_size):
        inputs = build(part)
        labels = torch.full((inputs.shape[0],), target, dtype=torch.long, device=inputs.device)
        accumulate(input_gradients(classifier, inputs, labels, score=score), part)


def max_abs_over_channels(attributions: torch.Tensor) -> torch.Tensor:
    """N×3×H×W → N×H×W: ``max_c |a_c|`` (the reduction of the gradient-type methods)."""
    return attributions.abs().amax(dim=1)


def require_relu(classifier: Classifier) -> None:
    if not guided_modules(classifier.network):
        raise ExplainerInputError(
            "method",
            "guided_backprop needs nn.ReLU or nn.ReLU6 modules in the model (functional "
            "activations cannot be rewritten); without them it equals 'gradient'",
        )
