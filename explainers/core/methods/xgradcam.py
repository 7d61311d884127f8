"""XGrad-CAM — Fu et al. 2020.

``α_k = Σ_ij (∂y_c/∂f^k_ij · f^k_ij) / Σ_ij f^k_ij`` (0 for a channel whose maps sum to 0),
``S = ReLU(Σ_k α_k f^k)``. Input: N×3×H×W; result: N×h×w.
"""

from __future__ import annotations

import torch

from explainers.core.methods.cam_base import CamBatch, CamExplainer, cam_options
from explainers.core.registry import register_method


@register_method
class XGradCam(CamExplainer):
    name = "xgradcam"
    description = (
        "XGrad-CAM: feature maps weighted by the activation-weighted mean of ∂y_c/∂f^k, then ReLU."
    )
    citation = (
        "Fu, Hu, Dong, Cheng, Wang & Liu (2020). Axiom-based Grad-CAM: towards accurate "
        "visualization and explanation of CNNs. BMVC, arXiv:2008.02312"
    )
    score = "logit"
    needs_gradients = True
    options = cam_options(relu=True, score="logit")

    def channel_weights(self, batch: CamBatch) -> torch.Tensor:
        assert batch.gradients is not None
        f = batch.features
        numerator = (batch.gradients * f).sum(dim=(2, 3))
        denominator = f.sum(dim=(2, 3))
        safe = torch.where(denominator != 0, denominator, torch.ones_like(denominator))
        return torch.where(denominator != 0, numerator / safe, torch.zeros_like(numerator))
