"""Ablation-CAM — Desai & Ramaswamy 2020.

The weight of channel k is the relative drop of the class logit when that channel of the
target layer's output is set to zero: ``α_k = (y_c − y_c^{k ablated}) / y_c``;
``S = ReLU(Σ_k α_k f^k)``. Channels that are zero everywhere are not re-run (ablating them
changes nothing: ``α_k = 0`` exactly).

Only the layers after the target layer depend on the ablation. When the model allows it (checked
once per classifier and layer against full re-runs), the layers before it run once per
``tail_batch_size`` ablated copies and only the rest of the network is evaluated per copy: on a
global-average-pooling + linear head that is almost free. Otherwise every ablated copy is a full
forward pass, ``batch_size`` at a time. Input: N×3×H×W; result: N×h×w.
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


def _ablate(features: torch.Tensor, channels: torch.Tensor) -> torch.Tensor:
    """Copies of ``features`` (1 or B × K×h×w), copy b with channel ``channels[b]`` zeroed."""
    copies = features.expand(channels.numel(), *features.shape[1:]).clone()
    copies[torch.arange(channels.numel(), device=channels.device), channels] = 0
    return copies


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
    the passes in float16 on CUDA when ``autocast``)."""
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
        original = class_scores(batch.logits, batch.targets, options["score"])
        weights = torch.zeros(f.shape[:2], device=f.device)
        for i in range(f.shape[0]):
            active = (f[i] != 0).flatten(1).any(dim=1).nonzero().squeeze(1)
            if active.numel() == 0:
                continue
            image, target = batch.x[i], batch.targets[i]
            tail = tail_allowed(batch.classifier, image, target, batch.layer, active)
            ablated = ablated_scores(
                batch.classifier,
                image,
                target,
                batch.layer,
                active,
                score=options["score"],
                batch_size=options["tail_batch_size"] if tail else options["batch_size"],
                tail=tail,
                autocast=options["autocast"],
            )
            weights[i, active] = (original[i] - ablated) / original[i]
        return weights
