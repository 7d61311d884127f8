"""The base of every faithfulness metric (tutorial section 3.1).

A metric is one class registered with :func:`explainers.core.registry.register_metric`; it
declares its name, description, citation, kind (single- or multi-step), direction and options,
and implements :meth:`Metric.compute`. :func:`explainers.core.faithfulness` validates everything
before calling it. A metric returns one value per image, NaN where the value is undefined (never
0 and never averaged away: means and intervals belong to the analysis layer).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch

from explainers.core.registry import Option

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier


class Metric(ABC):
    """A faithfulness metric. Subclasses set the class attributes and implement :meth:`compute`."""

    name: ClassVar[str]
    description: ClassVar[str]
    citation: ClassVar[str]
    kind: ClassVar[Literal["multi_step", "single_step"]]
    higher_is_better: ClassVar[bool]
    options: ClassVar[Mapping[str, Option]] = {}

    def check(  # noqa: B027 (optional hook)
        self, classifier: Classifier, x: torch.Tensor, options: Mapping[str, Any]
    ) -> None:
        """Preconditions on the options given the images; raise ExplainerInputError."""

    @abstractmethod
    def compute(
        self,
        classifier: Classifier,
        x: torch.Tensor,
        saliency: torch.Tensor,
        targets: torch.Tensor,
        options: Mapping[str, Any],
    ) -> torch.Tensor:
        """N values (float32; NaN where undefined).

        Args:
            x: N×3×H×W float32 model inputs on the classifier's device (validated).
            saliency: N×h×w float32 maps, same device, h ≤ H and w ≤ W (validated, finite).
            targets: N class indices (int64), those of the original images.
            options: every option, validated, defaults filled in.
        """


def pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of two vectors (float64); NaN when either is constant or too short."""
    a, b = a.double(), b.double()
    if a.numel() < 2 or bool(a.max() == a.min()) or bool(b.max() == b.min()):
        return float("nan")
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / torch.sqrt((a * a).sum() * (b * b).sum()))
