"""Models that produce their own attention maps (tutorial §2.2): the hook and its helpers.

**The hook.** A classifier exposes its maps by giving its module a method

    ``attention_maps(x: Tensor[N×3×H×W]) -> Tensor[N×K×h×w]``

(optionally with a keyword ``targets: Tensor[N]`` of class indices, for models whose maps depend
on the class, e.g. a prototype model's similarity maps of the target class's prototypes).
``x`` is in model space, as the module's ``forward`` takes it; ``K ≥ 1`` maps per image, e.g.
a Vision Transformer's last-layer CLS attention per head (Eq. 10 of the tutorial, see
:func:`cls_attention`), a B-CNN's or BR-NPA's N part maps, ProtoPNet's similarity maps. A model
that does not have such a method can be wrapped in a small ``nn.Module`` that adds it.
:class:`~explainers.core.Classifier` copies the module and the copy keeps the method; the
registry offers the maps as method ``attention`` (:mod:`explainers.core.methods.attention`), and
:func:`attention_maps` returns all K maps, e.g. for :func:`explainers.core.render.channels_to_rgb`
(Fig. 8 of the tutorial: the first three maps as red, green and blue).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from explainers.core.batching import chunks, forward_only
from explainers.core.errors import ExplainerInputError

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier

#: Name of the module method that returns the attention maps.
HOOK = "attention_maps"


def has_attention(classifier: Classifier) -> bool:
    """Whether the classifier's model exposes ``attention_maps``."""
    return callable(getattr(classifier.network, HOOK, None))


def _hook(classifier: Classifier) -> Callable[..., Any]:
    method = getattr(classifier.network, HOOK, None)
    if not callable(method):
        raise ExplainerInputError(
            "classifier",
            f"{classifier.name} exposes no attention maps: method 'attention' needs a model with "
            f"a method {HOOK}(x) → N×K×h×w (see explainers/core/attention.py)",
        )
    return method


def _takes_targets(method: Callable[..., Any]) -> bool:
    try:
        return "targets" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


def attention_maps(
    classifier: Classifier,
    x: torch.Tensor,
    targets: torch.Tensor | None = None,
    *,
    batch_size: int = 8,
) -> torch.Tensor:
    """All attention maps of the model for images ``x``: N×K×h×w float32 on the CPU.

    ``x`` N×3×H×W model inputs; ``targets`` N class indices, passed to the hook when it takes
    them (None: the model's top-1 classes). Runs ``batch_size`` images at a time in inference
    mode; raises :class:`ExplainerInputError` naming ``classifier`` when the model has no maps.
    """
    from explainers.core.validation import check_images, check_targets

    method = _hook(classifier)
    x = check_images(classifier, x)
    with_targets = _takes_targets(method)
    labels = check_targets(classifier, x, targets, batch_size=batch_size) if with_targets else None
    outputs = []
    with classifier.session(), forward_only(classifier.device):
        for part in chunks(x.shape[0], batch_size):
            inputs = classifier.prepare(x[part])
            maps = method(inputs) if labels is None else method(inputs, targets=labels[part])
            outputs.append(_checked(maps, part.stop - part.start))
    shapes = {tuple(m.shape[1:]) for m in outputs}
    if len(shapes) != 1:
        raise ExplainerInputError("classifier", f"{HOOK} returned maps of shapes {sorted(shapes)}")
    return torch.cat(outputs).to("cpu", torch.float32)


def _checked(maps: Any, n: int) -> torch.Tensor:
    if not isinstance(maps, torch.Tensor) or maps.dim() != 4 or maps.shape[0] != n:
        shape = tuple(maps.shape) if isinstance(maps, torch.Tensor) else type(maps).__name__
        raise ExplainerInputError(
            "classifier", f"{HOOK} must return N×K×h×w maps for {n} images, got {shape}"
        )
    if not torch.isfinite(maps).all():
        raise ExplainerInputError("classifier", f"{HOOK} returned NaN or infinite values")
    return maps.detach().float()


def cls_attention(query: torch.Tensor, key: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """A Vision Transformer's CLS attention, Eq. 10 of the tutorial (Caron et al. 2021):
    ``A = softmax(Q_[CLS] Kᵀ / √d_k)`` over all T tokens, then the entries of the ``h·w`` patch
    tokens (the CLS token is first) reshaped to ``h×w = H/p_H × W/p_W``.

    ``query``, ``key``: N×heads×T×d_k of the last layer; returns N×heads×h×w (one map per head).
    """
    height, width = grid
    if query.shape[-2] != 1 + height * width:
        raise ValueError(f"grid: {height}×{width} patches + CLS ≠ {query.shape[-2]} tokens")
    scale = query.shape[-1] ** -0.5
    logits = (query[..., :1, :] @ key.transpose(-2, -1)) * scale  # N×heads×1×T
    weights = torch.softmax(logits, dim=-1)[..., 0, 1:]
    return weights.reshape(*weights.shape[:-1], height, width)
