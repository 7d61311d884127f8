"""Attention — the maps a model produces itself (tutorial §2.2; Eq. 10 for a ViT's CLS attention).

The model exposes ``attention_maps(x) → N×K×h×w`` (:mod:`explainers.core.attention`). The method
returns one map per image: the map ``part`` (0-based) when given, else the reduction of the K
maps (``mean`` by default, or ``max``) — for a multi-head ViT, the mean over heads is the usual
single map. The maps are returned as the model computes them (no ReLU, no normalisation); they do
not depend on the target class unless the model's hook takes ``targets``.

Input: N×3×H×W; result: N×h×w (the model's attention resolution, e.g. H/p × W/p patches).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from explainers.core.attention import _hook, attention_maps
from explainers.core.errors import ExplainerInputError
from explainers.core.methods.base import Explainer
from explainers.core.registry import Option, batch_size_option, register_method

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier


@register_method
class Attention(Explainer):
    name = "attention"
    description = (
        "The model's own attention maps (e.g. a ViT's last-layer CLS attention, part or "
        "prototype maps): one part, or their mean or maximum."
    )
    citation = (
        "Gomez & Mouchère (2023). Computing and evaluating saliency maps for image "
        "classification: a tutorial. J. Electronic Imaging 32(2), §2.2 and Eq. 10"
    )
    family = "attention"
    resolution = "feature"
    options = {
        "part": Option(
            None, (int, type(None)), "index of one of the K maps (None: reduce them)", minimum=0
        ),
        "reduction": Option(
            "mean", (str,), "how K maps become one: 'mean' or 'max'", choices=("mean", "max")
        ),
        "batch_size": batch_size_option(),
    }

    def check(self, classifier: Classifier, x: torch.Tensor, options: Mapping[str, Any]) -> None:
        _hook(classifier)

    def attribute(
        self,
        classifier: Classifier,
        x: torch.Tensor,
        targets: torch.Tensor,
        *,
        seed: int,
        options: Mapping[str, Any],
    ) -> torch.Tensor:
        maps = attention_maps(classifier, x, targets, batch_size=options["batch_size"])
        part = options["part"]
        if part is not None:
            if part >= maps.shape[1]:
                raise ExplainerInputError(
                    "part", f"the model has {maps.shape[1]} attention maps, asked for {part}"
                )
            return maps[:, part]
        return maps.mean(dim=1) if options["reduction"] == "mean" else maps.amax(dim=1)
