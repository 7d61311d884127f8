"""The bridge from database rows to ``explainers.core``: loading classifiers once per process.

A worker keeps every classifier it has loaded (keyed by row, file hash and device), so a job of
many tasks pays the loading cost once per worker process.
"""

from __future__ import annotations

import io
import threading
from typing import Any

from explainers.device import resolve_device
from explainers.models import Classifier as ClassifierRow

_cache: dict[tuple[int, str, str], Any] = {}
_lock = threading.Lock()


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
