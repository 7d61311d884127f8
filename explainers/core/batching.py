"""Batched model evaluation under a ``batch_size`` bound: the shared engine of every method.

Methods that score many perturbed copies of an image (Score-CAM, the faithfulness metrics and the
perturbation family: RISE, occlusion, LIME, Kernel SHAP, DE-CAM) describe the copies by a
``build(slice)`` function and let :func:`score_items` evaluate them ``batch_size`` at a time, so
that memory never grows with the number of copies. Forward-only work runs under
``torch.inference_mode`` (and float16 autocast on CUDA when asked).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier

#: Builds the model inputs (B×3×H×W) and their target classes (B) of items ``slice``.
BuildItems = Callable[[slice], tuple[torch.Tensor, torch.Tensor]]


def chunks(total: int, size: int) -> Iterator[slice]:
    """Consecutive slices of ``range(total)`` of at most ``size`` items (the last may be short)."""
    for start in range(0, total, size):
        yield slice(start, min(start + size, total))


def even_chunks(total: int, size: int) -> Iterator[slice]:
    """``range(total)`` cut into the fewest slices of at most ``size`` items, of near-equal
    length (50 items at 8 → 7 slices of 7 or 8, never a tail of 2)."""
    if total <= 0:
        return
    parts = -(-total // size)
    base, extra = divmod(total, parts)
    start = 0
    for index in range(parts):
        stop = start + base + (index < extra)
        yield slice(start, stop)
        start = stop


def class_scores(logits: torch.Tensor, targets: torch.Tensor, score: str) -> torch.Tensor:
    """``y_c`` for each row: the target logit, or its softmax probability (in float32)."""
    logits = logits.float()
    if score == "probability":
        logits = torch.softmax(logits, dim=1)
    elif score != "logit":
        raise ValueError(f"score must be 'logit' or 'probability', got {score!r}")
    return logits.gather(1, targets.view(-1, 1)).squeeze(1)


@contextmanager
def forward_only(device: torch.device, autocast: bool = False) -> Iterator[None]:
    """``torch.inference_mode``, plus float16 autocast when ``autocast`` and on CUDA."""
    with ExitStack() as stack:
        stack.enter_context(torch.inference_mode())
        if autocast and device.type == "cuda":
            stack.enter_context(torch.autocast(device_type="cuda", dtype=torch.float16))
        yield


def forward_logits(
    classifier: Classifier, x: torch.Tensor, *, batch_size: int = 8, autocast: bool = False
) -> torch.Tensor:
    """N×C float32 logits of ``x`` on the classifier's device, ``batch_size`` images at a time."""
    outputs = []
    with classifier.session(), forward_only(classifier.device, autocast):
        for part in chunks(x.shape[0], batch_size):
            outputs.append(classifier.network(classifier.prepare(x[part])).float())
    return torch.cat(outputs)


def score_items(
    classifier: Classifier,
    total: int,
    build: BuildItems,
    *,
    score: str,
    batch_size: int,
    autocast: bool = False,
) -> torch.Tensor:
    """Scores ``y_c`` of ``total`` model inputs built lazily by ``build``, ``batch_size`` at a time.

    ``build(slice)`` returns the inputs (B×3×H×W, model space) and target classes (B) of the
    items in the slice; it runs under ``torch.inference_mode`` on the classifier's device. The
    result is a float32 tensor of ``total`` scores on that device. Slices are of near-equal
    length (:func:`even_chunks`), so a given set of items is always evaluated in the same way.
    """
    scores = torch.empty(total, dtype=torch.float32, device=classifier.device)
    with classifier.session(), forward_only(classifier.device, autocast):
        for part in even_chunks(total, batch_size):
            inputs, targets = build(part)
            logits = classifier.network(classifier.prepare(inputs))
            scores[part] = class_scores(logits, targets.to(classifier.device), score)
    return scores
