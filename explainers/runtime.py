"""The bridge from database rows to ``explainers.core``: loading classifiers once per process.

A worker keeps every classifier it has loaded (keyed by row, file hash and device), so a job of
many tasks pays the loading cost once per worker process. It also keeps the model inputs of the
images it used last (:func:`model_inputs`): a job's units for the same batch of images and
different methods run one after another, and decode each image once between them.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from explainers.device import resolve_device
from explainers.models import Classifier as ClassifierRow
from explainers.models import Image as ImageRow

_cache: dict[tuple[int, str, str], Any] = {}
_lock = threading.Lock()

#: Images whose model inputs a worker process keeps (about 0.75 MB each at 224×224).
INPUT_CACHE_SIZE = 64
_inputs: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()


def core_classifier(row: ClassifierRow, device: str | None = None) -> Any:
    """The ``explainers.core.Classifier`` for ``row`` on ``device`` (cached per process)."""
    device = resolve_device(device)
    key = (row.pk, row.sha256, device)
    with _lock:
        if key not in _cache:
            _cache[key] = _load(row, device)
        return _cache[key]


def clear_cache() -> None:
    with _lock:
        _cache.clear()
    forget_inputs()


def forget_inputs() -> None:
    """Drop the kept model inputs (the classifiers stay loaded)."""
    with _lock:
        _inputs.clear()


def model_inputs(
    row: ClassifierRow,
    images: Sequence[ImageRow],
    load: Callable[[ImageRow], Any],
    device: str | None = None,
) -> tuple[list[Any], Any]:
    """``(views, x)`` for ``images``: the PIL image each map is drawn on (the model's view) and
    the N×3×H×W model input, from ``load(image)`` (a PIL RGB image) only for images not among the
    last :data:`INPUT_CACHE_SIZE` used with this classifier. Keyed by classifier row, file hash and
    device, and by image row and file hash, so a changed file is never served from the cache.
    """
    import torch

    clf = core_classifier(row, device)
    prefix = (row.pk, row.sha256, str(getattr(clf, "device", "cpu")))
    keys = [(*prefix, image.pk, image.sha256) for image in images]
    with _lock:
        found = {key: _inputs[key] for key in keys if key in _inputs}
    missing = {key: image for key, image in zip(keys, images, strict=True) if key not in found}
    if missing:
        x, views = clf.preprocess_with_views([load(image) for image in missing.values()])
        for key, view, row_x in zip(missing, views, x, strict=True):
            found[key] = (view, row_x.clone())  # its own storage: evicting it frees it
    with _lock:
        for key in keys:
            _inputs[key] = found[key]
            _inputs.move_to_end(key)
        while len(_inputs) > INPUT_CACHE_SIZE:
            _inputs.popitem(last=False)
    return [found[key][0] for key in keys], torch.stack([found[key][1] for key in keys])


def _load(row: ClassifierRow, device: str) -> Any:
    from explainers import core

    if row.source == ClassifierRow.Source.ZOO:
        return core.load_classifier(row.zoo_name or row.name, device=device)
    import torch

    with row.file.open("rb") as handle:
        data = handle.read()
    if row.source == ClassifierRow.Source.TORCHSCRIPT:
        module = torch.jit.load(io.BytesIO(data), map_location="cpu")
    else:
        from explainers.services.classifiers import instantiate_architecture

        module = instantiate_architecture(row.architecture)
        module.load_state_dict(torch.load(io.BytesIO(data), map_location="cpu", weights_only=True))
    return core.Classifier(
        module.eval(),
        target_layer=row.target_layer or None,
        class_names=list(row.class_names) or None,
        input_size=row.input_size,
        device=device,
    )
