"""Files of computed maps, stored through Django's storage API under opaque names.

Files a participant may see (images, rendered stimuli and maps, degraded copies) live under
:data:`SHOWN_FOLDER` with a keyed name (:func:`keyed_name`): with object storage their key is in
the signed URL the browser follows, so it must reveal nothing (not the kind of file, not the
image, method or class) and be unguessable without ``SECRET_KEY``.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import uuid
from collections.abc import Iterable

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def opaque_name(*parts: object) -> str:
    """A stable, unguessable file stem for a computed object's identity (its unique key).

    The same map always gets the same name, so a task that is killed after writing its files and
    run again overwrites them instead of leaving orphans, and nothing about the image, class or
    method can be read from the name.
    """
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:32]


#: The folder of every file a participant may be shown: ``s/<32 hex>.<extension>``.
SHOWN_FOLDER = "s"


def keyed_name(*parts: object) -> str:
    """Like :func:`opaque_name`, but keyed by ``SECRET_KEY``: the same identity always gets the
    same name (a task run again overwrites instead of leaving orphans), and nobody without the
    key can tell from the name which identity (image, class, method) it stands for."""
    key = hashlib.sha256(b"explainers.shown:" + settings.SECRET_KEY.encode()).digest()
    message = ":".join(str(p) for p in parts).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def shown_name(extension: str, *parts: object) -> str:
    """The storage name of a file participants may see: ``s/<keyed hex>.<extension>``."""
    return f"{SHOWN_FOLDER}/{keyed_name(*parts)}.{extension}"


def signed_url(name: str, *, filename: str, cache_control: str) -> str | None:
    """A short-lived URL that serves ``name`` from the bucket itself, or None where the storage
    signs nothing (the file system: Django streams the file).

    Only called after the view has checked who may see the file. The bucket answers with the
    stored object's type and with ``cache_control`` and ``filename`` (the view's opaque name) in
    place of its own headers; the URL expires after ``AWS_QUERYSTRING_EXPIRE`` seconds.
    """
    if getattr(settings, "MEDIA_STORAGE", "filesystem") != "s3":
        return None
    parameters = {
        "ResponseCacheControl": cache_control,
        "ResponseContentDisposition": f'inline; filename="{filename}"',
    }
    return str(default_storage.url(name, parameters=parameters))  # type: ignore[call-arg]


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
