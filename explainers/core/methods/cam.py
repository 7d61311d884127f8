"""CAM — Zhou et al. 2016 (tutorial Eq. 4).

``CAM_c = Σ_k w_kc f^k``: the feature maps weighted by the weights ``w_kc`` of the linear layer
that connects their global average to the class logit ``y_c``. Only for models whose logits are
exactly ``Linear(GAP(f))`` on the target layer's output (checked: otherwise an error). No ReLU by
default (Eq. 4 has none). Input: N×3×H×W; result: N×h×w.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from explainers.core.errors import ExplainerInputError
from explainers.core.methods.cam_base import CamBatch, CamExplainer, cam_options, target_layer
from explainers.core.registry import Option, register_method

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier


def linear_head(classifier: Classifier, name: str | None) -> nn.Linear:
    """The final ``nn.Linear`` (by name, else the last one registered in the model)."""
    modules = dict(classifier.network.named_modules())
    if name is not None:
        module = modules.get(name)
        if not isinstance(module, nn.Linear):
            raise ExplainerInputError("head", f"{name!r} is not an nn.Linear of the model")
        return module
    linears = [m for m in modules.values() if isinstance(m, nn.Linear)]
    if not linears:
        raise ExplainerInputError("method", "'cam' needs a model that ends in an nn.Linear layer")
    return linears[-1]


@register_method
class Cam(CamExplainer):
    name = "cam"
    description = (
        "Class activation map: feature maps weighted by the final linear layer's weights "
        "(models ending in global average pooling + one linear layer only)."
    )
    citation = (
        "Zhou, Khosla, Lapedriza, Oliva & Torralba (2016). Learning deep features for "
        "discriminative localization. CVPR"
    )
    score = "logit"
    options = {
        **cam_options(relu=False),
        "head": Option(
            None, (str, type(None)), "name of the final nn.Linear (None: the last nn.Linear)"
        ),
    }

    def check(self, classifier: Classifier, x: torch.Tensor, options: Mapping[str, Any]) -> None:
        super().check(classifier, x, options)
        head = linear_head(classifier, options["head"])
        layer = target_layer(classifier, options)
        batch = self.capture(
            classifier, x[:1], self.first_target(x), layer, options, gradients=False
        )
        pooled = batch.features.mean(dim=(2, 3))
        if pooled.shape[1] != head.in_features:
            raise ExplainerInputError(
                "method",
                f"'cam': the head takes {head.in_features} features but {layer!r} has "
                f"{pooled.shape[1]} channels",
            )
        predicted = nn.functional.linear(pooled, head.weight.float(), head.bias)
        tolerance = 1e-3 * max(1.0, float(batch.logits.abs().max()))
        if float((predicted - batch.logits).abs().max()) > tolerance:
            raise ExplainerInputError(
                "method",
                f"'cam' needs logits = Linear(global average of {layer!r}); this model's are not "
                "(use gradcam, which equals CAM up to scale on such models)",
            )

    def channel_weights(self, batch: CamBatch) -> torch.Tensor:
        head = linear_head(batch.classifier, batch.options["head"])
        return head.weight.float()[batch.targets]
