"""The classifier adapter: any ``torch.nn.Module`` image classifier, with its preprocessing.

A :class:`Classifier` owns a private *execution copy* of the module handed in: on its device, in
evaluation mode, without gradient flags, in ``channels_last`` memory format and with batch
normalisation folded into the preceding convolutions and a few more rewrites that keep its
function (:mod:`explainers.core.fusion`). Every
computation runs on that copy, so the module a user handed in is never modified, moved or
hooked. A probe pass at construction checks that the module is a classifier (it maps N×3×S×S
images to N×C logits) and that the target layer exists and outputs N×K×h×w feature maps, so that
a bad model or layer fails here, with a message naming the argument, and not half-way through a
computation.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from explainers.core.errors import ExplainerInputError
from explainers.core.fusion import optimize
from explainers.core.hooks import eval_mode, find_layer, frozen_parameters

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Preprocess = Callable[[Sequence[Image.Image]], torch.Tensor]


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` or ``"auto"`` → CUDA when available, else CPU; ``"cpu"``, ``"cuda"``,
    ``"cuda:N"`` and ``torch.device`` pass through (CUDA must be available)."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ExplainerInputError("device", f"not a device: {device!r}") from None
    if resolved.type not in ("cpu", "cuda"):
        raise ExplainerInputError("device", f"must be cpu or cuda, got {device!r}")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ExplainerInputError("device", "CUDA was requested but is not available")
    return resolved


def _pil_list(images: Sequence[Image.Image] | Image.Image) -> list[Image.Image]:
    if isinstance(images, Image.Image):
        images = [images]
    if not images:
        raise ExplainerInputError("images", "give at least one image")
    for image in images:
        if not isinstance(image, Image.Image):
            raise ExplainerInputError("images", f"expected PIL images, got {type(image).__name__}")
    return list(images)


@dataclass(frozen=True)
class ImagePreprocess:
    """Resize the shorter side to ``resize_size`` (bilinear, PIL, antialiased), centre-crop
    ``crop_size`` × ``crop_size`` (offsets ``round((size − crop)/2)``), scale to [0, 1] and
    normalise per channel: ``(v − mean) / std``. The torchvision ImageNet evaluation transform.
    """

    resize_size: int = 256
    crop_size: int = 224
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def view(self, image: Image.Image) -> Image.Image:
        """The RGB image the model sees, before normalisation (crop_size × crop_size)."""
        if not isinstance(image, Image.Image):
            raise ExplainerInputError("images", f"expected PIL images, got {type(image).__name__}")
        image = image.convert("RGB")
        width, height = image.size
        if width <= height:
            size = (self.resize_size, int(self.resize_size * height / width))
        else:
            size = (int(self.resize_size * width / height), self.resize_size)
        image = image.resize(size, Image.Resampling.BILINEAR)
        left = round((size[0] - self.crop_size) / 2.0)
        top = round((size[1] - self.crop_size) / 2.0)
        return image.crop((left, top, left + self.crop_size, top + self.crop_size))

    def __call__(self, images: Sequence[Image.Image]) -> torch.Tensor:
        return self.from_views([self.view(image) for image in images])

    def from_views(self, views: Sequence[Image.Image]) -> torch.Tensor:
        """N×3×H×W model inputs of images already resized and cropped by :meth:`view`."""
        pixels = np.stack([np.asarray(view, dtype=np.uint8) for view in views])
        x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float().div_(255.0)
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return (x - mean) / std


@dataclass
class _Probe:
    num_classes: int
    layers: dict[str, tuple[int, tuple[int, ...] | None]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)


def _probe(network: nn.Module, x: torch.Tensor) -> _Probe:
    """One forward pass that records each submodule's call count and output shape."""
    calls: dict[str, int] = {}
    shapes: dict[str, tuple[int, ...] | None] = {}
    order: list[str] = []
    handles = []
    scripted = isinstance(network, torch.jit.ScriptModule)  # no Python hooks on ScriptModules
    for name, module in [] if scripted else network.named_modules():
        if not name:
            continue

        def hook(_m: nn.Module, _i: object, output: object, name: str = name) -> None:
            calls[name] = calls.get(name, 0) + 1
            shapes[name] = tuple(output.shape) if isinstance(output, torch.Tensor) else None
            order.append(name)

        handles.append(module.register_forward_hook(hook))
    try:
        with torch.inference_mode():
            output = network(x)
    except Exception as error:
        raise ExplainerInputError(
            "module", f"a forward pass on a {tuple(x.shape)} image batch failed: {error}"
        ) from error
    finally:
        for handle in handles:
            handle.remove()
    if not isinstance(output, torch.Tensor) or output.dim() != 2 or output.shape[0] != x.shape[0]:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise ExplainerInputError(
            "module", f"is not a classifier: maps N×3×H×W images to {shape}, not N×C logits"
        )
    if output.shape[1] < 2:
        raise ExplainerInputError("module", "is not a classifier: it has fewer than 2 classes")
    if not torch.isfinite(output).all():
        raise ExplainerInputError("module", "produces non-finite logits on a probe batch")
    if (output >= 0).all() and torch.allclose(output.sum(1), torch.ones(1, device=output.device)):
        raise ExplainerInputError(
            "module", "returns probabilities; pass a module that returns logits (pre-softmax)"
        )
    layers = {name: (calls[name], shapes[name]) for name in calls}
    return _Probe(int(output.shape[1]), layers, order)


def _suggest(probe: _Probe) -> str | None:
    """The last module (in completion order) that runs once and outputs N×K×h×w with h·w > 1."""
    for name in reversed(probe.order):
        count, shape = probe.layers[name]
        if count == 1 and shape is not None and len(shape) == 4 and shape[2] * shape[3] > 1:
            return name
    return None


def _probe_input(input_size: int, device: torch.device) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, input_size, input_size, generator=generator).to(device)


def suggest_target_layer(module: nn.Module, input_size: int = 224) -> str | None:
    """A target layer for the CAM family: the last module, in order of completion of a forward
    pass, that runs exactly once and outputs N×K×h×w feature maps with h·w > 1 (so pooled
    N×K×1×1 outputs are skipped). None when the model has no such module."""
    with eval_mode(module), frozen_parameters(module):
        device = next((p.device for p in module.parameters()), torch.device("cpu"))
        return _suggest(_probe(module, _probe_input(input_size, device)))


class Classifier:
    """An image classifier ready for explanation.

    Args:
        module: any ``torch.nn.Module`` mapping N×3×H×W images (model space, i.e. after
            normalisation) to N×C logits. It is copied; the original is never modified.
        target_layer: name (as in ``module.named_modules()``) of the module whose output is the
            last feature maps, for the CAM family. None: suggested (:func:`suggest_target_layer`).
        preprocess: a callable mapping a list of PIL images to an N×3×H×W tensor. None: the
            ImageNet evaluation transform (:class:`ImagePreprocess`) at ``input_size`` with
            ``mean``/``std`` (ImageNet's when not given).
        class_names: one name per class (default ``"0"``, ``"1"``, …).
        input_size: side of the square model input (default 224); ``resize_size`` defaults to
            ``round(input_size · 256/224)``.
        mean, std: per-channel normalisation in [0, 1] pixel units. They define the model-space
            value of a black pixel (the integrated-gradients baseline). With a custom
            ``preprocess`` and no ``mean``/``std`` that value is unknown.
        device: ``None``/``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``…
        channels_last: run convolutions in NHWC memory format (about 2–3× faster on CPU).
        optimize_network: rewrite the execution copy where it provably keeps the function: batch
            normalisation folded into convolutions, padding folded into convolutions, in-place
            activations (:mod:`explainers.core.fusion`).
        name: a label for reports.
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        target_layer: str | None = None,
        preprocess: Preprocess | None = None,
        class_names: Sequence[str] | None = None,
        input_size: int = 224,
        resize_size: int | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        device: str | torch.device | None = None,
        channels_last: bool = True,
        optimize_network: bool = True,
        name: str | None = None,
    ) -> None:
        if not isinstance(module, nn.Module):
            raise ExplainerInputError(
                "module", f"must be a torch.nn.Module, got {type(module).__name__}"
            )
        if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 8:
            raise ExplainerInputError("input_size", f"must be an int ≥ 8, got {input_size!r}")
        if target_layer is not None and not isinstance(target_layer, str):
            raise ExplainerInputError(
                "target_layer", f"must be a module name, got {target_layer!r}"
            )
        self.name = name or type(module).__name__
        self.device = resolve_device(device)
        self.module = module
        self.input_size = input_size
        self.mean, self.std = self._normalisation(preprocess, mean, std)
        self._preprocess, self._view = self._preprocessing(preprocess, resize_size)
        self.hook_limitation: str | None = None
        self.network, self._owned = self._execution_copy(module)
        self.channels_last = bool(channels_last) and self._owned
        probe_input = _probe_input(input_size, self.device)
        with self.session():
            probe = _probe(self.network, probe_input)
        self.num_classes = probe.num_classes
        self.class_names = self._class_names(class_names)
        self.target_layer = self._target_layer(target_layer, probe)
        shape = probe.layers[self.target_layer][1] if self.target_layer else None
        self.feature_shape: tuple[int, ...] | None = tuple(shape[1:]) if shape else None
        if self.channels_last:
            self.network.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        #: The rewrites applied to the execution copy (see :mod:`explainers.core.fusion`).
        self.rewrites: list[str] = []
        if optimize_network and self._owned:
            protected = {self.target_layer} if self.target_layer else set()
            self.rewrites = optimize(self.network, self.prepare(probe_input), protected)
        #: Convolutions whose output now includes their batch norm (not valid target layers).
        self.folded = {
            r.split()[1].split("+")[0]: r.split()[1].split("+")[1]
            for r in self.rewrites
            if r.startswith("fold ")
        }

    # Construction helpers -------------------------------------------------------------------

    def _normalisation(
        self,
        preprocess: Preprocess | None,
        mean: Sequence[float] | None,
        std: Sequence[float] | None,
    ) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
        if preprocess is None:
            mean = IMAGENET_MEAN if mean is None else mean
            std = IMAGENET_STD if std is None else std
        if (mean is None) != (std is None):
            raise ExplainerInputError("mean", "give both mean and std, or neither")
        if mean is None or std is None:
            return None, None
        mean_t, std_t = tuple(float(v) for v in mean), tuple(float(v) for v in std)
        if len(mean_t) != 3 or len(std_t) != 3 or min(std_t) <= 0:
            raise ExplainerInputError("std", "mean and std need 3 values each, std > 0")
        return mean_t, std_t

    def _preprocessing(
        self, preprocess: Preprocess | None, resize_size: int | None
    ) -> tuple[Preprocess, Callable[[Image.Image], Image.Image] | None]:
        if preprocess is not None:
            if not callable(preprocess):
                raise ExplainerInputError("preprocess", "must be callable")
            return preprocess, None
        resize = resize_size if resize_size is not None else round(self.input_size * 256 / 224)
        if resize < self.input_size:
            raise ExplainerInputError("resize_size", f"must be ≥ input_size, got {resize}")
        assert self.mean is not None and self.std is not None
        transform = ImagePreprocess(resize, self.input_size, self.mean, self.std)
        return transform, transform.view

    def _execution_copy(self, module: nn.Module) -> tuple[nn.Module, bool]:
        if isinstance(module, torch.jit.ScriptModule):
            # copy.deepcopy of a loaded ScriptModule yields non-leaf parameters (their
            # requires_grad flag cannot be changed); a save/load round trip copies it properly.
            buffer = io.BytesIO()
            torch.jit.save(module, buffer)
            buffer.seek(0)
            scripted = torch.jit.load(buffer, map_location=self.device).eval()
            for parameter in scripted.parameters():
                if parameter.is_leaf:
                    parameter.requires_grad_(False)
            return scripted, False
        try:
            network = copy.deepcopy(module)
        except Exception:  # some scripted or exotic modules cannot be copied: use them as they are
            return module, False
        network.to(self.device).eval()
        for parameter in network.parameters():
            parameter.requires_grad_(False)
        return network, True

    def unsupported_methods(self) -> dict[str, str]:
        """The methods of :data:`explainers.core.METHODS` this classifier cannot run, with why."""
        from explainers.core.registry import METHODS

        return {
            name: reason
            for name, spec in METHODS.items()
            if (reason := method_limitation(spec.family, name, self.hook_limitation))
        }

    def _class_names(self, class_names: Sequence[str] | None) -> list[str]:
        if class_names is None:
            return [str(i) for i in range(self.num_classes)]
        names = [str(n) for n in class_names]
        if len(names) != self.num_classes:
            raise ExplainerInputError(
                "class_names", f"{len(names)} names for a model with {self.num_classes} classes"
            )
        return names

    def _target_layer(self, target_layer: str | None, probe: _Probe) -> str | None:
        if isinstance(self.network, torch.jit.ScriptModule):
            #: Why the CAM family and hook-based methods cannot run (None: they can).
            self.hook_limitation = SCRIPTED_HOOK_LIMITATION
            return None
        if target_layer is None:
            return _suggest(probe)
        find_layer(self.network, target_layer)
        count, shape = probe.layers.get(target_layer, (0, None))
        if count != 1:
            raise ExplainerInputError(
                "target_layer",
                f"{target_layer!r} ran {count} times in a forward pass; it must run exactly once",
            )
        if shape is None or len(shape) != 4:
            raise ExplainerInputError(
                "target_layer", f"{target_layer!r} outputs {shape}, not N×K×h×w feature maps"
            )
        return target_layer

    # Running the network --------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[nn.Module]:
        """Evaluation mode and no parameter gradients on the network, restored afterwards."""
        with ExitStack() as stack:
            stack.enter_context(eval_mode(self.network))
            stack.enter_context(frozen_parameters(self.network))
            yield self.network

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as the network takes it: float32, on the device, channels_last when enabled."""
        x = x.to(device=self.device, dtype=torch.float32)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def preprocess(self, images: Sequence[Image.Image]) -> torch.Tensor:
        """N×3×H×W model inputs of a list of PIL images, on the classifier's device."""
        x = self._preprocess(_pil_list(images))
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            raise ExplainerInputError("preprocess", "must return an N×3×H×W tensor")
        return x.to(self.device, torch.float32)

    def preprocess_with_views(
        self, images: Sequence[Image.Image]
    ) -> tuple[torch.Tensor, list[Image.Image]]:
        """``(preprocess(images), [view(image) for image in images])``, resizing and cropping each
        image once with the standard preprocessing (overlays are drawn on the views)."""
        if not isinstance(self._preprocess, ImagePreprocess):
            return self.preprocess(images), [self.view(image) for image in _pil_list(images)]
        views = [self._preprocess.view(image) for image in _pil_list(images)]
        return self._preprocess.from_views(views).to(self.device, torch.float32), views

    def view(self, image: Image.Image) -> Image.Image:
        """The image as the model sees it (resized and cropped), for overlays; unchanged when a
        custom ``preprocess`` was given."""
        return self._view(image) if self._view is not None else image.convert("RGB")

    def logits(self, x: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
        """N×C float32 logits of model inputs ``x``, on the CPU."""
        from explainers.core.batching import forward_logits
        from explainers.core.validation import check_images

        return forward_logits(self, check_images(self, x), batch_size=batch_size).cpu()

    def probabilities(self, x: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
        """N×C float32 softmax probabilities of model inputs ``x``, on the CPU."""
        return torch.softmax(self.logits(x, batch_size), dim=1)

    def predict(self, x: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
        """Top-1 class index per image (int64, CPU)."""
        return self.logits(x, batch_size).argmax(dim=1)

    def pixel_value(self, value: float) -> torch.Tensor | None:
        """Model-space value (3 channels) of a uniform pixel ``value`` in [0, 1]; None when the
        classifier's normalisation is unknown. ``pixel_value(0)`` is black: ``(0 − mean)/std``."""
        if self.mean is None or self.std is None:
            return None
        mean = torch.tensor(self.mean, device=self.device)
        std = torch.tensor(self.std, device=self.device)
        return (value - mean) / std

    def config(self) -> dict[str, Any]:
        """What identifies this classifier's numbers (for provenance records)."""
        return {
            "name": self.name,
            "input_size": self.input_size,
            "mean": self.mean,
            "std": self.std,
            "target_layer": self.target_layer,
            "num_classes": self.num_classes,
            "device": str(self.device),
            "channels_last": self.channels_last,
            "rewrites": len(self.rewrites),
        }

    def __repr__(self) -> str:
        return (
            f"Classifier({self.name}, classes={self.num_classes}, target_layer="
            f"{self.target_layer!r}, device={self.device})"
        )


SCRIPTED_HOOK_LIMITATION = (
    "a TorchScript model does not support Python forward hooks, so its layers' outputs cannot "
    "be captured (CAM family, guided backpropagation); upload a state_dict with its architecture "
    "for these methods"
)
#: Methods that capture or rewrite layers with Python hooks (all of the CAM family, and these).
HOOKED_METHODS = frozenset({"guided_backprop"})


def method_limitation(family: str, method: str, hook_limitation: str | None) -> str | None:
    """Why ``method`` of ``family`` cannot run under ``hook_limitation`` (None: it can)."""
    if hook_limitation and (family == "cam" or method in HOOKED_METHODS):
        return hook_limitation
    return None
