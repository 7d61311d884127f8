"""Adjusted p-values for a family of tests.

- Holm (1979), step-down, controls the family-wise error rate: with p sorted increasingly,
  ``p̃₍ᵢ₎ = max_{j ≤ i} min(1, (m − j + 1)·p₍ⱼ₎)``. Used for confirmatory families.
- Benjamini & Hochberg (1995), step-up, controls the false discovery rate:
  ``p̃₍ᵢ₎ = min_{j ≥ i} min(1, m·p₍ⱼ₎ / j)``. Used for exploratory families.

Missing p-values (NaN) are left out of the family and stay NaN; ``m`` counts only the others.
These agree with R's ``p.adjust(method = "holm" | "BH")``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

__all__ = ["AdjustMethod", "adjust_p", "bh", "holm"]

AdjustMethod = Literal["holm", "bh", "none"]


def _prepare(p: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arr = np.asarray(p, dtype=float).ravel()
    if np.any((arr < 0) | (arr > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    valid = np.isfinite(arr)
    return arr, valid, arr[valid]


def holm(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN)."""
    arr, valid, vals = _prepare(p)
    out = np.full(arr.shape, np.nan)
    m = vals.size
    if m == 0:
        return out
    order = np.argsort(vals, kind="mergesort")
    scaled = (m - np.arange(m)) * vals[order]
    adjusted = np.minimum(1.0, np.maximum.accumulate(scaled))
    result = np.empty(m)
    result[order] = adjusted
    out[valid] = result
    return out


def bh(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg step-up adjusted p-values (NaN stays NaN)."""
    arr, valid, vals = _prepare(p)
    out = np.full(arr.shape, np.nan)
    m = vals.size
    if m == 0:
        return out
    order = np.argsort(vals, kind="mergesort")[::-1]  # largest first
    scaled = m * vals[order] / (m - np.arange(m))
    adjusted = np.minimum(1.0, np.minimum.accumulate(scaled))
    result = np.empty(m)
    result[order] = adjusted
    out[valid] = result
    return out


def adjust_p(p: Sequence[float] | np.ndarray, method: AdjustMethod) -> np.ndarray:
    """Adjust a family of p-values by ``"holm"``, ``"bh"`` or ``"none"``."""
    if method == "holm":
        return holm(p)
    if method == "bh":
        return bh(p)
    if method == "none":
        return np.asarray(p, dtype=float).copy()
    raise ValueError(f"unknown adjustment {method!r}; use 'holm', 'bh' or 'none'")
