"""Which torch device saliency work runs on, from ``EXPLAINERS_DEVICE`` (auto = CUDA if present)."""

from __future__ import annotations

from django.conf import settings


def resolve_device(requested: str | None = None) -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; explicit values pass through."""
    import torch

    value = (requested or settings.EXPLAINERS_DEVICE or "auto").lower()
    if value == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return value
