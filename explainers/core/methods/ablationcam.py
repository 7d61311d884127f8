"""Ablation-CAM — Desai & Ramaswamy 2020.

The weight of channel k is the relative drop of the class score when that channel of the
target layer's output is set to zero: ``α_k = (y_c − y_c^{k ablated}) / y_c`` (METHODS.md);
``S = ReLU(Σ_k α_k f^k)``. Channels that are zero everywhere are not re-run (ablating them
changes nothing: ``α_k = 0`` exactly).

Precision: ``y_c`` comes from an un-ablated pass run exactly as the ablated ones (same path,
same batch, same precision: float16 under ``autocast`` on CUDA), never from the float32 pass
that captures ``f``. Otherwise the rounding difference ``y_c^{fp32} − y_c^{fp16}`` would be
added to every drop and give every channel the same spurious weight.

The denominator: all weights of an image share it, so it only scales the map (its shape is that
of ``Σ_k (y_c − y_c^k) f^k``) and, for a negative ``y_c``, flips its sign. We keep the
definition's sign: with a negative logit, channels whose ablation *raises* the logit get positive
weights and the ReLU keeps the regions that speak against the class (use
``score="probability"``, always positive, to keep those for it). When ``|y_c| < ε``
(``ε = DENOMINATOR_EPS = 1e-6``; a logit of exactly 0, or a probability that underflowed) the
ratio is undefined; we divide by ``ε`` with ``y_c``'s sign (``+ε`` at 0) instead, which keeps the
map finite and of the same shape (the drops' map, scaled by ``1/ε``).

Memory and passes: only the layers after the target layer depend on the ablation. When the
model allows it (checked once per classifier and layer against full re-runs), the layers before
it run once per ``tail_batch_size`` ablated copies and only the rest of the network is evaluated
per copy: on a global-average-pooling + linear head that is almost free. There
``tail_batch_size`` (default 128), not ``batch_size``, bounds memory: ``tail_batch_size`` copies
of the target layer's K×h×w output and of the activations after it. Otherwise every ablated
copy is a full forward pass, ``batch_size`` at a time. ``batch_size`` also bounds the images of
the pass that captures ``f``. Input: N×3×H×W; result: N×h×w.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from explainers.core.batching import class_scores, even_chunks, forward_only
from explainers.core.hooks import replace_layer_output
from explainers.core.methods.cam_base import CamBatch, CamExplainer, cam_options
from explainers.core.registry import Option, autocast_option, register_method

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier

_tail_ok: weakref.WeakKeyDictionary[Classifier, dict[str, bool]] = weakref.WeakKeyDictionary()

#: A channel index meaning "ablate nothing": the un-ablated reference copy.
NO_CHANNEL = -1
#: ``|y_c|`` below which the denominator of the weights is ``±ε`` (see the module docstring).
DENOMINATOR_EPS = 1e-6


def _ablate(features: torch.Tensor, channels: torch.Tensor) -> torch.Tensor:
    """Copies of ``features`` (1 or B × K×h×w), copy b with channel ``channels[b]`` zeroed
    (left intact where ``channels[b]`` is :data:`NO_CHANNEL`)."""
    copies = features.expand(channels.numel(), *features.shape[1:]).clone()
    rows = torch.arange(channels.numel(), device=channels.device)
    ablated = channels >= 0
    copies[rows[ablated], channels[ablated]] = 0
    return copies


def relative_drops(reference: torch.Tensor, ablated: torch.Tensor) -> torch.Tensor:
    """``(y_c − y_c^k) / y_c`` with the denominator ``±ε`` where ``|y_c| < ε`` (``+ε`` at 0)."""
    eps = torch.full_like(reference, DENOMINATOR_EPS)
    guarded = torch.where(reference < 0, -eps, eps)
    denominator = torch.where(reference.abs() < DENOMINATOR_EPS, guarded, reference)
    return (reference - ablated) / denominator


def ablated_scores(
    classifier: Classifier,
    image: torch.Tensor,
    target: torch.Tensor,
    layer: str,
    channels: torch.Tensor,
    *,
    score: str,
    batch_size: int,
    tail: bool,
    autocast: bool = False,
) -> torch.Tensor:
    """``y_c`` of ``image`` with each of ``channels`` of ``layer`` ablated in turn (float32;
    the passes in float16 on CUDA when ``autocast``); :data:`NO_CHANNEL` gives the un-ablated
    score under the same precision."""
    scores = torch.empty(channels.numel(), device=image.device)
    with classifier.session(), forward_only(classifier.device, autocast):
        for part in even_chunks(channels.numel(), batch_size):
            chosen = channels[part]
            inputs = image.unsqueeze(0)
            if not tail:
                inputs = inputs.expand(chosen.numel(), *image.shape)

            def ablate(features: torch.Tensor, chosen: torch.Tensor = chosen) -> torch.Tensor:
                return _ablate(features, chosen)

            with replace_layer_output(classifier.network, layer, ablate):
                logits = classifier.network(classifier.prepare(inputs))
            if logits.shape[0] != chosen.numel():
                raise RuntimeError("the model's output does not follow the ablated batch")
            scores[part] = class_scores(logits.float(), target.expand(chosen.numel()), score)
    return scores


def tail_allowed(
    classifier: Classifier,
    image: torch.Tensor,
    target: torch.Tensor,
    layer: str,
    channels: torch.Tensor,
) -> bool:
    """Whether re-running only the layers after ``layer`` gives the full re-runs' scores."""
    known = _tail_ok.setdefault(classifier, {})
    if layer not in known:
        sample = channels[:3]
        full = ablated_scores(
            classifier, image, target, layer, sample, score="logit", batch_size=3, tail=False
        )
        try:
            fast = ablated_scores(
                classifier, image, target, layer, sample, score="logit", batch_size=3, tail=True
            )
            tolerance = 1e-4 * max(1.0, float(full.abs().max()))
            known[layer] = bool((fast - full).abs().max() <= tolerance)
        except (RuntimeError, ValueError, IndexError):  # the model needs its input's batch size
            known[layer] = False
    return known[layer]


@register_method
class AblationCam(CamExplainer):
    name = "ablationcam"
    description = (
        "Ablation-CAM: each feature map weighted by the relative drop of the class logit when "
        "it is zeroed in the target layer; ReLU."
    )
    citation = (
        "Desai & Ramaswamy (2020). Ablation-CAM: visual explanations for deep convolutional "
        "network via gradient-free localization. WACV"
    )
    score = "logit"
    options = {
        **cam_options(relu=True, score="logit"),
        "tail_batch_size": Option(
            128,
            (int,),
            "ablated copies per pass when only the layers after the target layer are re-run",
            minimum=1,
            affects_result=False,
        ),
        "autocast": autocast_option(),
    }

    def channel_weights(self, batch: CamBatch) -> torch.Tensor:
        f = batch.features
        options: Mapping[str, Any] = batch.options
        weights = torch.zeros(f.shape[:2], device=f.device)
        for i in range(f.shape[0]):
            active = (f[i] != 0).flatten(1).any(dim=1).nonzero().squeeze(1)
            if active.numel() == 0:
                continue
            image, target = batch.x[i], batch.targets[i]
            tail = tail_allowed(batch.classifier, image, target, batch.layer, active)
            # The reference y_c is copy 0 of the first pass: same path, batch and precision.
            reference = torch.tensor([NO_CHANNEL], device=active.device)
            scores = ablated_scores(
                batch.classifier,
                image,
                target,
                batch.layer,
                torch.cat([reference, active]),
                score=options["score"],
                batch_size=options["tail_batch_size"] if tail else options["batch_size"],
                tail=tail,
                autocast=options["autocast"],
            )
            weights[i, active] = relative_drops(scores[0], scores[1:])
        return weights
