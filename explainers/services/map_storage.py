"""Files of computed maps, stored through Django's storage API under opaque names."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterable

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def opaque_name(*parts: object) -> str:
    """A stable, unguessable file stem for a computed object's identity (its unique key).

    The same map always gets the same name, so a task that is killed after writing its files and
    run again overwrites them instead of leaving orphans, and nothing about the image, class or
    method can be read from the name.
    """
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:32]


def save_bytes(folder: str, extension: str, data: bytes, stem: str | None = None) -> str:
    """Store ``data`` as ``folder/<stem or uuid>.<extension>``, replacing a same-named file."""
    name = f"{folder}/{stem or uuid.uuid4().hex}.{extension}"
    if stem is not None and default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(data))


def encode_raw(saliency: np.ndarray) -> bytes:
    """A map as a compact float16 ``.npy`` (maps are min-max normalised on display anyway)."""
    buffer = io.BytesIO()
    np.save(buffer, saliency.astype(np.float16), allow_pickle=False)
    return buffer.getvalue()


def load_raw(name: str) -> np.ndarray:
    with default_storage.open(name, "rb") as handle:
        return np.load(io.BytesIO(handle.read()), allow_pickle=False).astype(np.float32)


def delete_files(names: Iterable[object]) -> None:
    for name in names:
        if name and default_storage.exists(str(name)):
            default_storage.delete(str(name))
