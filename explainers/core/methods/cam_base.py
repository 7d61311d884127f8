"""The base of the CAM family: a map is a weighted sum of the target layer's feature maps.

``S = φ(Σ_k α_k f^k)``, with ``f^k`` (h×w) the K feature maps output by the target layer, ``α_k``
the channel weights that each method defines (:meth:`CamExplainer.channel_weights`) and ``φ`` a
ReLU (the ``relu`` option; on by default except for CAM and the activation map, whose papers
use none). Maps are at feature-map resolution h×w; upsampling belongs to rendering.

The base runs the forward pass (and, for gradient-weighted methods, the backward pass from the
class score to the feature maps only: nothing before the target layer is recorded for backward,
so the forward runs at inference cost), ``batch_size`` images at a time, hooks released on exit.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from explainers.core.batching import chunks, class_scores, forward_only
from explainers.core.errors import ExplainerInputError
from explainers.core.hooks import capture_layer
from explainers.core.methods.base import Explainer
from explainers.core.registry import Option, ScoreKind, batch_size_option, score_option

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier


def cam_options(
    *, relu: bool, score: ScoreKind | None = None, batch_size: int = 8
) -> dict[str, Option]:
    """The options every CAM method has: target layer, final ReLU, score (when it has one)."""
    options = {
        "target_layer": Option(
            None,
            (str, type(None)),
            "module whose output is the feature maps (None: the classifier's target layer)",
        ),
        "relu": Option(relu, (bool,), "apply a ReLU to the weighted sum"),
    }
    if score is not None:
        options["score"] = score_option(score)
    options["batch_size"] = batch_size_option(batch_size)
    return options


@dataclass
class CamBatch:
    """What a CAM method sees of a batch of n images.

    ``features`` n×K×h×w float32; ``gradients`` ``∂y_c/∂f`` (same shape) when the method
    ``needs_gradients``, else None; ``logits`` n×C float32; ``layer`` the target layer's name.
    """

    classifier: Classifier
    x: torch.Tensor
    targets: torch.Tensor
    features: torch.Tensor
    gradients: torch.Tensor | None
    logits: torch.Tensor
    layer: str
    options: Mapping[str, Any]


def target_layer(classifier: Classifier, options: Mapping[str, Any]) -> str:
    """The layer named by the ``target_layer`` option, else the classifier's (raises if none)."""
    layer = options.get("target_layer") or classifier.target_layer
    if layer is None:
        raise ExplainerInputError(
            "target_layer",
            "the classifier has no layer with N×K×h×w feature maps; the CAM family needs one "
            "(give Classifier(target_layer=…) or the target_layer option)",
        )
    if layer in classifier.folded:
        raise ExplainerInputError(
            "target_layer",
            f"{layer!r} was folded with the batch norm {classifier.folded[layer]!r} in the "
            "classifier's execution copy; use that batch norm's name, or build the Classifier "
            f"with target_layer={layer!r} (then it is left unfolded) or optimize_network=False",
        )
    return str(layer)


class CamExplainer(Explainer):
    """A CAM-family method: subclasses set the class attributes and :meth:`channel_weights`."""

    family = "cam"
    resolution = "feature"
    #: Whether :meth:`channel_weights` needs ``∂y_c/∂f`` (then the ``score`` option is used).
    needs_gradients: ClassVar[bool] = False

    def check(self, classifier: Classifier, x: torch.Tensor, options: Mapping[str, Any]) -> None:
        layer = target_layer(classifier, options)
        if options.get("target_layer") is not None:
            # The checks of Classifier(target_layer=…) on one image: exists, runs once, 4-D maps.
            self.capture(classifier, x[:1], self.first_target(x), layer, options, gradients=False)

    @staticmethod
    def first_target(x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(1, dtype=torch.long, device=x.device)

    @abstractmethod
    def channel_weights(self, batch: CamBatch) -> torch.Tensor:
        """The channel weights ``α`` (n×K) of a batch."""

    def capture(
        self,
        classifier: Classifier,
        x: torch.Tensor,
        targets: torch.Tensor,
        layer: str,
        options: Mapping[str, Any],
        *,
        gradients: bool,
    ) -> CamBatch:
        """One forward pass (and a backward pass to the feature maps when ``gradients``)."""
        with ExitStack() as stack:
            stack.enter_context(classifier.session())
            if gradients:
                stack.enter_context(torch.inference_mode(False))
                stack.enter_context(torch.enable_grad())
            else:
                stack.enter_context(forward_only(classifier.device))
            captured = stack.enter_context(
                capture_layer(classifier.network, layer, requires_grad=gradients)
            )
            logits = classifier.network(classifier.prepare(x))
            features = captured.features()
            grads = None
            if gradients:
                scores = class_scores(logits, targets, options["score"])
                (grads,) = torch.autograd.grad(scores.sum(), features)
                grads = grads.detach().float()
        return CamBatch(
            classifier=classifier,
            x=x,
            targets=targets,
            features=features.detach().float(),
            gradients=grads,
            logits=logits.detach().float(),
            layer=layer,
            options=options,
        )

    def attribute(
        self,
        classifier: Classifier,
        x: torch.Tensor,
        targets: torch.Tensor,
        *,
        seed: int,
        options: Mapping[str, Any],
    ) -> torch.Tensor:
        layer = target_layer(classifier, options)
        maps = []
        for part in chunks(x.shape[0], options["batch_size"]):
            batch = self.capture(
                classifier, x[part], targets[part], layer, options, gradients=self.needs_gradients
            )
            weights = self.channel_weights(batch).float()
            cam = torch.einsum("nk,nkhw->nhw", weights, batch.features)
            if options["relu"]:
                cam = cam.clamp(min=0)
            maps.append(cam)
        return torch.cat(maps)
