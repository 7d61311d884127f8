"""Registering classifiers: the built-in zoo, TorchScript archives, or weights for an architecture.

Uploaded weights are loaded with ``torch.load(weights_only=True)`` only: a pickle is never
unpickled beyond tensors and plain containers. An architecture is named by an import path of a
module the server administrator installed; it must be a ``torch.nn.Module`` subclass that can be
built without arguments.
"""

from __future__ import annotations

import hashlib
import importlib
import io
from collections.abc import Sequence
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction

from explainers.models import Classifier

MAX_MODEL_BYTES = 500 * 1024 * 1024


class ClassifierError(ValueError):
    """An uploaded model that cannot be used; the message says why."""


def classifier_zoo_ensure(*, name: str = "efficientnet_lite0") -> Classifier:
    """The shared row of a built-in zoo model (created once, visible to every researcher)."""
    existing = Classifier.objects.filter(owner=None, name=name).first()
    if existing is not None:
        return existing
    from explainers.core import load_classifier

    model = load_classifier(name, device="cpu")
    with transaction.atomic():
        row, _ = Classifier.objects.get_or_create(
            owner=None,
            name=name,
            defaults={
                "source": Classifier.Source.ZOO,
                "zoo_name": name,
                "class_names": list(model.class_names),
                "input_size": int(getattr(model, "input_size", 224)),
                "target_layer": str(getattr(model, "target_layer", "") or ""),
            },
        )
    return row


def instantiate_architecture(path: str) -> Any:
    import torch

    module_name, _, attribute = path.rpartition(".")
    if not module_name:
        raise ClassifierError(f"architecture {path!r} must be a full import path, e.g. pkg.Net")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError):
        raise ClassifierError(f"architecture {path!r} is not installed on this server") from None
    if not (isinstance(factory, type) and issubclass(factory, torch.nn.Module)):
        raise ClassifierError(f"architecture {path!r} is not a torch.nn.Module class")
    try:
        return factory()
    except TypeError as error:
        raise ClassifierError(
            f"architecture {path!r} cannot be built without arguments ({error})"
        ) from None


def _load_module(data: bytes, source: str, architecture: str) -> Any:
    import torch

    if source == Classifier.Source.TORCHSCRIPT:
        try:
            return torch.jit.load(io.BytesIO(data), map_location="cpu")
        except Exception as error:
            raise ClassifierError(f"file: not a TorchScript archive ({error})") from None
    module = instantiate_architecture(architecture)
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:
        raise ClassifierError(
            f"file: not a state_dict that loads with weights_only=True ({str(error)[:200]})"
        ) from None
    if not isinstance(state, dict):
        raise ClassifierError("file: the archive does not hold a state_dict (a dict of tensors)")
    try:
        module.load_state_dict(state)
    except RuntimeError as error:
        raise ClassifierError(f"file: the weights do not fit {architecture} ({error})") from None
    return module


def _check_target_layer(module: Any, source: str, target_layer: str, input_size: int) -> None:
    """The CAM family's layer must exist and give N×K×h×w feature maps once per forward pass
    (checked by the core's probe pass); a TorchScript model runs no hooks, so takes none."""
    from explainers.core import Classifier as CoreClassifier
    from explainers.core import ExplainerInputError
    from explainers.core.classifier import SCRIPTED_HOOK_LIMITATION

    if source == Classifier.Source.TORCHSCRIPT:
        raise ClassifierError(
            f"target_layer: leave it empty for a TorchScript model: {SCRIPTED_HOOK_LIMITATION}"
        )
    try:
        CoreClassifier(module, target_layer=target_layer, input_size=input_size, device="cpu")
    except ExplainerInputError as error:
        message = str(error)
        raise ClassifierError(
            message if error.argument == "target_layer" else f"target_layer: {message}"
        ) from None


def classifier_upload(
    *,
    owner: Any,
    name: str,
    data: bytes,
    source: str,
    class_names: Sequence[str],
    architecture: str = "",
    target_layer: str = "",
    input_size: int = 224,
) -> Classifier:
    """Validate an uploaded model by loading it and running one input; store it on success."""
    import torch

    if source not in (Classifier.Source.TORCHSCRIPT, Classifier.Source.STATE_DICT):
        raise ClassifierError("source: must be torchscript or state_dict")
    if source == Classifier.Source.STATE_DICT and not architecture:
        raise ClassifierError("architecture: required for a state_dict upload")
    if not data or len(data) > MAX_MODEL_BYTES:
        raise ClassifierError(f"file: empty or larger than {MAX_MODEL_BYTES // 2**20} MB")
    if not class_names:
        raise ClassifierError("class_names: give the model's class names in output order")
    if not 32 <= input_size <= 1024:
        raise ClassifierError("input_size: must be between 32 and 1024 pixels")
    if Classifier.objects.filter(owner=owner, name=name).exists():
        raise ClassifierError(f"name: you already have a classifier called {name!r}")
    module = _load_module(data, source, architecture).eval()
    with torch.inference_mode():
        try:
            output = module(torch.zeros(1, 3, input_size, input_size))
        except Exception as error:
            raise ClassifierError(
                f"file: the model fails on a 1×3×{input_size}² input ({error})"
            ) from None
    if not (isinstance(output, torch.Tensor) and output.ndim == 2):
        raise ClassifierError("file: the model must return N×classes scores (a 2-D tensor)")
    if output.shape[1] != len(class_names):
        raise ClassifierError(
            f"class_names: {len(class_names)} names for a model with {output.shape[1]} outputs"
        )
    if target_layer:
        _check_target_layer(module, source, target_layer, input_size)
    digest = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        row = Classifier(
            owner=owner,
            name=name,
            source=source,
            architecture=architecture,
            target_layer=target_layer,
            sha256=digest,
            class_names=list(class_names),
            input_size=input_size,
        )
        row.file.save(f"{digest}.pt", ContentFile(data), save=False)
        row.save()
    return row
