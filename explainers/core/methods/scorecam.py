"""Score-CAM — Wang et al. 2020, Eqs. 5–6 (tutorial Eqs. 5–6).

For each feature map ``f^k`` (h×w): upsample it to the input size (bilinear,
``align_corners=False``), min–max normalise it to ``M^k`` ∈ [0, 1], score the masked input
``s_k = y_c(x ⊙ M^k)`` (softmax probability by default; ``x ⊙ M`` is 0 in model space where the
mask is 0). The channel weights are ``α = softmax_k(s_k)`` over channels (as the paper; option
``weights='raw'`` uses ``s_k`` itself) and ``S = ReLU(Σ_k α_k f^k)``.

Channels whose map is constant have no defined normalisation and carry no information: they are
skipped (weight 0; the softmax runs over the other channels), as in the authors' code. Masked
copies are scored ``batch_size`` at a time; one forward pass per informative channel and image.
Input: N×3×H×W; result: N×h×w.
"""

from __future__ import annotations

import torch

from explainers.core.batching import score_items
from explainers.core.methods.cam_base import CamBatch, CamExplainer, cam_options
from explainers.core.perturbation import minmax_normalize, upsample
from explainers.core.registry import Option, autocast_option, register_method


@register_method
class ScoreCam(CamExplainer):
    name = "scorecam"
    description = (
        "Score-CAM: each feature map, upsampled and normalised, masks the input; the class "
        "probabilities of the masked inputs (softmax over channels) weight the maps; ReLU."
    )
    citation = (
        "Wang, Wang, Du, Yang, Zhang, Ding, Mardziel & Hu (2020). Score-CAM: score-weighted "
        "visual explanations for convolutional neural networks. CVPR workshops"
    )
    score = "probability"
    options = {
        **cam_options(relu=True, score="probability"),
        "weights": Option(
            "softmax",
            (str,),
            "channel weights: 'softmax' over channels of the scores, or the 'raw' scores",
            choices=("softmax", "raw"),
        ),
        "autocast": autocast_option(),
    }

    def channel_weights(self, batch: CamBatch) -> torch.Tensor:
        f = batch.features
        size = (batch.x.shape[2], batch.x.shape[3])
        weights = torch.zeros(f.shape[:2], device=f.device)
        for i in range(f.shape[0]):
            informative = (f[i].amax(dim=(1, 2)) > f[i].amin(dim=(1, 2))).nonzero().squeeze(1)
            if informative.numel() == 0:
                continue
            image, target = batch.x[i], batch.targets[i]

            def build(
                part: slice,
                maps: torch.Tensor = f[i][informative],
                image: torch.Tensor = image,
                target: torch.Tensor = target,
            ) -> tuple[torch.Tensor, torch.Tensor]:
                masks, _ = minmax_normalize(upsample(maps[part], size, "bilinear"))
                return image.unsqueeze(0) * masks.unsqueeze(1), target.expand(masks.shape[0])

            scores = score_items(
                batch.classifier,
                informative.numel(),
                build,
                score=batch.options["score"],
                batch_size=batch.options["batch_size"],
                autocast=batch.options["autocast"],
            )
            if batch.options["weights"] == "softmax":
                scores = torch.softmax(scores, dim=0)
            weights[i, informative] = scores
        return weights
