"""Grad-CAM — Selvaraju et al. 2017.

``S = ReLU(Σ_k α_k f^k)``, ``α_k = (1/hw) Σ_ij ∂y_c/∂f^k_ij`` (the spatial mean of the gradient of
the class logit with respect to each feature map). Input: N×3×H×W; result: N×h×w.
"""

from __future__ import annotations

import torch

from explainers.core.methods.cam_base import CamBatch, CamExplainer, cam_options
from explainers.core.registry import register_method


@register_method
class GradCam(CamExplainer):
    name = "gradcam"
    description = "Grad-CAM: feature maps weighted by the spatial mean of ∂y_c/∂f^k, then ReLU."
    citation = (
        "Selvaraju, Cogswell, Das, Vedantam, Parikh & Batra (2017). Grad-CAM: visual "
        "explanations from deep networks via gradient-based localization. ICCV"
    )
    score = "logit"
    needs_gradients = True
    options = cam_options(relu=True, score="logit")

    def channel_weights(self, batch: CamBatch) -> torch.Tensor:
        assert batch.gradients is not None
        return batch.gradients.mean(dim=(2, 3))
