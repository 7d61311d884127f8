"""Adjusted p-values for a family of tests.

- Holm (1979), step-down, controls the family-wise error rate: with p sorted increasingly,
  ``p̃₍ᵢ₎ = max_{j ≤ i} min(1, (m − j + 1)·p₍ⱼ₎)``. Used for confirmatory families.
- Benjamini & Hochberg (1995), step-up, controls the false discovery rate:
  ``p̃₍ᵢ₎ = min_{j ≥ i} min(1, m·p₍ⱼ₎ / j)``. Used for exploratory families.

Missing p-values (NaN) are left out of the family and stay NaN; ``m`` counts only the others.
Both are computed by statsmodels' ``multipletests`` (``"holm"``, ``"fdr_bh"``); they agree with
R's ``p.adjust(method = "holm" | "BH")``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from statsmodels.stats.multitest import multipletests

__all__ = ["AdjustMethod", "adjust_p", "bh", "holm"]

AdjustMethod = Literal["holm", "bh", "none"]


def _prepare(p: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arr = np.asarray(p, dtype=float).ravel()
    if np.any((arr < 0) | (arr > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    valid = np.isfinite(arr)
    return arr, valid, arr[valid]


def _adjusted(p: Sequence[float] | np.ndarray, method: str) -> np.ndarray:
    arr, valid, vals = _prepare(p)
    out = np.full(arr.shape, np.nan)
    if vals.size:
        out[valid] = multipletests(vals, method=method)[1]
    return out


def holm(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN)."""
    return _adjusted(p, "holm")


def bh(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg step-up adjusted p-values (NaN stays NaN)."""
    return _adjusted(p, "fdr_bh")


def adjust_p(p: Sequence[float] | np.ndarray, method: AdjustMethod) -> np.ndarray:
    """Adjust a family of p-values by ``"holm"``, ``"bh"`` or ``"none"``."""
    if method == "holm":
        return holm(p)
    if method == "bh":
        return bh(p)
    if method == "none":
        return np.asarray(p, dtype=float).copy()
    raise ValueError(f"unknown adjustment {method!r}; use 'holm', 'bh' or 'none'")
