"""The base of every saliency method: what a method declares and the one function it implements.

A method is one class in one module, registered with
:func:`explainers.core.registry.register_method`. It declares its name, description, citation,
family, resolution, default score, whether it is stochastic, and its options
(:class:`explainers.core.registry.Option`); it implements :meth:`Explainer.attribute`. The public
:func:`explainers.core.explain` validates the images, the targets and the options before calling
it, and converts the result to a float32 CPU tensor, so ``attribute`` only computes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from explainers.core.registry import Family, Option, Resolution, ScoreKind

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier


class Explainer(ABC):
    """A saliency method. Subclasses set the class attributes and implement :meth:`attribute`."""

    name: ClassVar[str]
    description: ClassVar[str]
    citation: ClassVar[str]
    family: ClassVar[Family]
    resolution: ClassVar[Resolution]
    score: ClassVar[ScoreKind] = "logit"
    stochastic: ClassVar[bool] = False
    options: ClassVar[Mapping[str, Option]] = {}

    def check(  # noqa: B027  (an optional hook: most methods have no precondition)
        self, classifier: Classifier, x: torch.Tensor, options: Mapping[str, Any]
    ) -> None:
        """Preconditions that depend on the classifier or the images (e.g. a target layer, a
        ReLU, a known normalisation, the superpixels SLIC returns). Raise
        :class:`ExplainerInputError`. Runs after the explicit targets are checked and before the
        top-1 pass of ``targets=None``; evaluate the model at most for a probe of an option."""

    @abstractmethod
    def attribute(
        self,
        classifier: Classifier,
        x: torch.Tensor,
        targets: torch.Tensor,
        *,
        seed: int,
        options: Mapping[str, Any],
    ) -> torch.Tensor:
        """Saliency maps, N×h×w.

        Args:
            classifier: the classifier (run its ``network`` inside ``classifier.session()``).
            x: N×3×H×W float32 model inputs on the classifier's device (validated).
            targets: N class indices (int64, same device, validated).
            seed: seed of every random draw (stochastic methods).
            options: every option of the method, validated, defaults filled in.
        """
