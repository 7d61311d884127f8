"""Activation map (AM) — the tutorial's baseline (Gomez & Mouchère 2023, section 3.1.3).

``AM = (1/K) Σ_k f^k``: the mean of the target layer's feature maps; independent of the class.
Input: N×3×H×W; result: N×h×w.
"""

from __future__ import annotations

import torch

from explainers.core.methods.cam_base import CamBatch, CamExplainer, cam_options
from explainers.core.registry import register_method


@register_method
class ActivationMap(CamExplainer):
    name = "activation_map"
    description = "Activation map: the mean of the target layer's feature maps (class-agnostic)."
    citation = (
        "Gomez & Mouchère (2023). Computing and evaluating saliency maps for image "
        "classification: a tutorial. J. Electronic Imaging 32(2)"
    )
    score = "logit"
    options = cam_options(relu=False)

    def channel_weights(self, batch: CamBatch) -> torch.Tensor:
        n, k = batch.features.shape[:2]
        return torch.full((n, k), 1.0 / k, device=batch.features.device)
