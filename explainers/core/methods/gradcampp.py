"""Grad-CAM++ — Chattopadhyay et al. 2018, Eq. 19 of their paper, as pytorch-grad-cam writes it.

With ``g = ∂y_c/∂f^k_ij`` (the logit's gradient) and ``A^k = Σ_ab f^k_ab``:
``a_ij = g² / (2g² + A^k·g³ + ε)`` (0 where g = 0), ``α_k = Σ_ij a_ij · ReLU(g)``,
``S = ReLU(Σ_k α_k f^k)``; ``ε = 1e-6``. Input: N×3×H×W; result: N×h×w.
"""

from __future__ import annotations

import torch

from explainers.core.methods.cam_base import CamBatch, CamExplainer, cam_options
from explainers.core.registry import Option, register_method


@register_method
class GradCamPlusPlus(CamExplainer):
    name = "gradcampp"
    description = (
        "Grad-CAM++: feature maps weighted by a pixel-weighted sum of positive gradients "
        "(Eq. 19 of the paper), then ReLU."
    )
    citation = (
        "Chattopadhyay, Sarkar, Howlader & Balasubramanian (2018). Grad-CAM++: generalized "
        "gradient-based visual explanations for deep convolutional networks. WACV"
    )
    score = "logit"
    needs_gradients = True
    options = {
        **cam_options(relu=True, score="logit"),
        "eps": Option(1e-6, (float,), "ε in the denominator of a_ij", minimum=0.0),
    }

    def channel_weights(self, batch: CamBatch) -> torch.Tensor:
        assert batch.gradients is not None
        g = batch.gradients
        g2 = g * g
        totals = batch.features.sum(dim=(2, 3), keepdim=True)
        a = g2 / (2 * g2 + totals * g2 * g + batch.options["eps"])
        a = torch.where(g != 0, a, torch.zeros_like(a))
        return (a * g.clamp(min=0)).sum(dim=(2, 3))
