"""Model-parameter randomisation test — Adebayo, Gilmer, Muelly, Goodfellow, Hardt & Kim 2018,
"Sanity checks for saliency maps" (NeurIPS), §3.1 (cascading randomisation).

The layers of the model are randomised one after the other from the top (the logits) down,
cumulatively; after each step the method's maps are recomputed for the same images and the same
target classes (those of the trained model) and compared with the trained model's maps, per
image, by

- the Spearman rank correlation of the map values (``absolute=True``: of their absolute values,
  Adebayo et al.'s "ABS" variant), undefined (NaN) when a map is constant;
- the SSIM (Wang et al. 2004; scikit-image's ``structural_similarity`` with a uniform window of
  ``min(7, h, w)`` rounded down to odd, ``data_range=1``) of the maps min–max normalised per map;
  NaN for maps smaller than 3×3.

A method whose maps depend on the learned parameters gives curves that fall from 1 towards 0; a
method whose maps do not change (e.g. an edge detector) stays near 1 and fails the check.

Layers: by default the model's *units* — the submodules of its top level, with ``Sequential``,
``ModuleList`` and ``ModuleDict`` containers expanded (so each block of a sequence of blocks is
one unit), that hold parameters and run in a forward pass — in reverse order of execution. Or a
list of module names, randomised in the order given. Randomisation (ours; Adebayo et al. redraw
with each layer's initialiser): every parameter tensor of the unit is redrawn from a normal
distribution with that tensor's own mean and standard deviation, from a seeded generator, which
keeps activations at their scale. Everything happens on a private copy of the classifier's
network: the classifier handed in is unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from explainers.core.api import explain
from explainers.core.errors import ExplainerInputError
from explainers.core.registry import method_spec
from explainers.core.render import normalize
from explainers.core.validation import check_classifier, check_images, check_targets

if TYPE_CHECKING:
    from explainers.core.classifier import Classifier

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


@dataclass(frozen=True)
class SanityCurve:
    """The similarity curves of a cascading randomisation.

    ``layers[k − 1]`` is the unit randomised at step ``k`` (cumulatively: at step ``k`` the
    units ``layers[:k]`` are random). ``spearman`` and ``ssim`` are float32 tensors of shape
    ``(len(layers) + 1)×N``: row 0 compares the trained model's maps with themselves (by the same
    functions as every other row: 1, or NaN where undefined, e.g. Spearman of a constant map),
    row ``k`` the maps after step ``k`` with the trained model's maps; NaN where undefined.
    """

    method: str
    layers: tuple[str, ...]
    spearman: torch.Tensor
    ssim: torch.Tensor
    maps: torch.Tensor

    def mean(self) -> dict[str, list[float]]:
        """Per step, the mean over images (ignoring NaN) of each similarity."""
        return {
            "spearman": torch.nanmean(self.spearman, dim=1).tolist(),
            "ssim": torch.nanmean(self.ssim, dim=1).tolist(),
        }


def default_units(network: nn.Module, x: torch.Tensor) -> list[str]:
    """The units of ``network`` (see module docstring), from the top (last executed) down."""
    candidates: list[tuple[str, nn.Module]] = []

    def walk(prefix: str, module: nn.Module) -> None:
        for name, child in module.named_children():
            full = f"{prefix}{name}"
            if isinstance(child, _CONTAINERS):
                walk(f"{full}.", child)
            elif any(True for _ in child.parameters()):
                candidates.append((full, child))

    walk("", network)
    order: list[str] = []
    handles = [
        module.register_forward_hook(
            lambda _m, _i, _o, name=name: order.append(name) if name not in order else None
        )
        for name, module in candidates
    ]
    try:
        with torch.inference_mode():
            network(x)
    finally:
        for handle in handles:
            handle.remove()
    return list(reversed(order))


def randomize_(module: nn.Module, generator: torch.Generator) -> None:
    """Redraw every parameter of ``module`` in place: ``N(mean(p), std(p))`` per tensor."""
    with torch.no_grad():
        for parameter in module.parameters():
            values = parameter.detach().float()
            std = float(values.std()) if values.numel() > 1 else 0.0
            noise = torch.randn(parameter.shape, generator=generator)
            parameter.copy_((float(values.mean()) + std * noise).to(parameter))


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a.ravel(), b.ravel()).statistic)


def _ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    from skimage.metrics import structural_similarity

    side = min(a.shape)
    if side < 3:
        return float("nan")
    window = min(7, side if side % 2 else side - 1)
    first = normalize(a).numpy().astype(np.float64)
    second = normalize(b).numpy().astype(np.float64)
    return float(structural_similarity(first, second, win_size=window, data_range=1.0))


def similarities(
    reference: torch.Tensor, maps: torch.Tensor, *, absolute: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image (N×h×w each): Spearman rank correlation and SSIM of ``maps`` to ``reference``."""
    if absolute:
        reference, maps = reference.abs(), maps.abs()
    rho = [_spearman(r.numpy(), m.numpy()) for r, m in zip(reference, maps, strict=True)]
    ssim = [_ssim(r, m) for r, m in zip(reference, maps, strict=True)]
    return torch.tensor(rho, dtype=torch.float32), torch.tensor(ssim, dtype=torch.float32)


def _private_copy(classifier: Classifier) -> Classifier:
    twin = copy.copy(classifier)
    try:
        twin.network = copy.deepcopy(classifier.network)
    except Exception as error:
        raise ExplainerInputError(
            "classifier", f"its network cannot be copied for randomisation: {error}"
        ) from error
    return twin


def check_layers(classifier: Classifier, names: list[str], modules: dict[str, nn.Module]) -> None:
    """Every name of ``layers`` must be a module of the execution copy that holds parameters
    (raises naming ``layers``): randomising one without any would silently change nothing."""
    if not names:
        raise ExplainerInputError("layers", "no module named: give at least one, or None")
    folded_into = {bn: conv for conv, bn in classifier.folded.items()}
    for name in names:
        if not name or name not in modules:
            raise ExplainerInputError("layers", f"the model has no module named {name!r}")
        if name in folded_into:
            raise ExplainerInputError(
                "layers",
                f"{name!r} is a batch norm folded into the convolution {folded_into[name]!r} in "
                f"the classifier's execution copy (it has no parameters left there); randomise "
                f"{folded_into[name]!r}, or build the Classifier with optimize_network=False",
            )
        if not any(True for _ in modules[name].parameters()):
            raise ExplainerInputError(
                "layers",
                f"the module {name!r} ({type(modules[name]).__name__}) has no parameters: "
                "randomising it would change nothing",
            )


def sanity_check(
    classifier: Classifier,
    x: torch.Tensor,
    method: str,
    targets: Any = None,
    seed: int = 0,
    *,
    layers: Sequence[str] | None = None,
    absolute: bool = False,
    randomization_seed: int = 0,
    **options: Any,
) -> SanityCurve:
    """Cascading randomisation test of ``method`` on images ``x`` (N×3×H×W, model space).

    Args:
        classifier: the trained :class:`~explainers.core.Classifier` (left unchanged).
        x, method, targets, seed, options: as for :func:`explainers.core.explain`; the targets
            (default: the trained model's top-1 classes) stay fixed for every step.
        layers: module names to randomise, in this order (default: the units, top down); each
            must hold parameters in the classifier's execution copy (a batch norm folded into
            its convolution there does not: name the convolution).
        absolute: compare absolute values of the maps (Spearman and SSIM).
        randomization_seed: seed of the redrawn parameters.

    Returns:
        A :class:`SanityCurve` with ``len(layers) + 1`` steps; ``maps`` holds the maps of every
        step, ``(len(layers) + 1)×N×h×w``.
    """
    method_spec(method).resolve(options)  # method and options checked before any pass
    classifier = check_classifier(classifier)
    x = check_images(classifier, x)
    twin = _private_copy(classifier)
    modules = dict(twin.network.named_modules())
    if layers is not None:
        if isinstance(layers, str):
            raise ExplainerInputError(
                "layers", f"expected a list of module names, got the string {layers!r}"
            )
        names = [str(name) for name in layers]
        check_layers(twin, names, modules)
    labels = check_targets(classifier, x, targets, batch_size=int(options.get("batch_size", 8)))
    trained = explain(classifier, x, method, targets=labels, seed=seed, **options)
    if layers is None:
        with twin.session():
            names = default_units(twin.network, twin.prepare(x[:1]))
    if not names:
        raise ExplainerInputError("layers", "the model has no layer with parameters to randomise")
    generator = torch.Generator().manual_seed(randomization_seed)
    same_rho, same_ssim = similarities(trained, trained, absolute=absolute)
    rho, ssim, maps = [same_rho], [same_ssim], [trained]
    for name in names:
        randomize_(modules[name], generator)
        current = explain(twin, x, method, targets=labels, seed=seed, **options)
        step_rho, step_ssim = similarities(trained, current, absolute=absolute)
        rho.append(step_rho)
        ssim.append(step_ssim)
        maps.append(current)
    return SanityCurve(method, tuple(names), torch.stack(rho), torch.stack(ssim), torch.stack(maps))
