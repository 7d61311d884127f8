"""Validation of the inputs shared by the mixed-model fits: design matrix and grouping factors.

Every problem is reported as a :class:`ValueError` whose message names the offending column,
factor or value, so that a pipeline can show it to the analyst.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Groups", "as_design", "as_groups", "as_vector"]


@dataclass(frozen=True)
class Groups:
    """Grouping factors as integer codes 0..L−1 with their labels, in the caller's order."""

    names: tuple[str, ...]
    codes: tuple[np.ndarray, ...]
    levels: tuple[np.ndarray, ...]

    @property
    def n_levels(self) -> tuple[int, ...]:
        return tuple(len(lv) for lv in self.levels)


def as_vector(values: Any, name: str) -> np.ndarray:
    """A finite 1-D float array."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    try:
        out = arr.astype(float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None
    bad = ~np.isfinite(out)
    if bad.any():
        raise ValueError(
            f"{name} has {int(bad.sum())} missing or non-finite value(s) (first at row "
            f"{int(np.flatnonzero(bad)[0])}); drop or impute them before fitting"
        )
    return out


def as_design(X: Any, fixed_names: Sequence[str], n: int) -> np.ndarray:
    """A finite n × p float matrix of full column rank whose columns are ``fixed_names``."""
    x = np.asarray(X, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"X must be two-dimensional, got shape {x.shape}")
    if x.shape[0] != n:
        raise ValueError(f"X has {x.shape[0]} rows but the outcome has {n}")
    names = tuple(str(s) for s in fixed_names)
    if len(names) != x.shape[1]:
        raise ValueError(f"fixed_names has {len(names)} names but X has {x.shape[1]} columns")
    if len(set(names)) != len(names):
        raise ValueError(f"fixed_names must be unique, got {names}")
    bad = ~np.isfinite(x)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise ValueError(
            f"X has {int(bad.sum())} missing or non-finite value(s) (e.g. column "
            f"{names[int(cols[0])]!r}, row {int(rows[0])})"
        )
    _check_rank(x, names)
    return x


def _check_rank(x: np.ndarray, names: tuple[str, ...]) -> None:
    if x.shape[1] == 0:
        return
    scale = np.sqrt(np.mean(x * x, axis=0))
    zero = scale == 0
    if zero.any():
        raise ValueError(f"column {names[int(np.flatnonzero(zero)[0])]!r} of X is all zero")
    xs = x / scale
    sv = np.linalg.svd(xs, compute_uv=False)
    tol = sv[0] * max(x.shape) * 1e-10
    if sv[-1] > tol:
        return
    dependent = []
    for j in range(1, x.shape[1]):
        kept = [i for i in range(j) if names[i] not in dependent]
        sub = xs[:, [*kept, j]]
        s = np.linalg.svd(sub, compute_uv=False)
        if s[-1] <= s[0] * max(sub.shape) * 1e-10:
            dependent.append(names[j])
    raise ValueError(
        "X is rank deficient (collinear columns): "
        f"{', '.join(repr(d) for d in dependent)} "
        "is a linear combination of earlier columns; drop it or recode the factor"
    )


def as_groups(groups: Mapping[str, Any], n: int) -> Groups:
    """Integer codes of each grouping factor; one level only is not identifiable."""
    names, codes, levels = [], [], []
    for name, labels in groups.items():
        arr = np.asarray(labels, dtype=object) if not isinstance(labels, np.ndarray) else labels
        if arr.ndim != 1:
            raise ValueError(f"grouping factor {name!r} must be one-dimensional")
        if len(arr) != n:
            raise ValueError(f"grouping factor {name!r} has {len(arr)} labels for {n} rows")
        code, uniques = pd.factorize(pd.Series(arr), use_na_sentinel=True)
        if (code < 0).any():
            raise ValueError(
                f"grouping factor {name!r} has {int((code < 0).sum())} missing label(s)"
            )
        if len(uniques) < 2:
            raise ValueError(
                f"grouping factor {name!r} has a single level; its random-intercept variance "
                "is not identifiable (it is confounded with the intercept) — drop the factor"
            )
        names.append(str(name))
        codes.append(np.asarray(code, dtype=np.intp))
        levels.append(np.asarray(list(uniques), dtype=object))
    if len(set(names)) != len(names):
        raise ValueError(f"grouping factor names must be unique, got {names}")
    return Groups(tuple(names), tuple(codes), tuple(levels))


def separation_notes(outcome: np.ndarray, x: np.ndarray, names: tuple[str, ...]) -> list[str]:
    """Notes for two-valued columns of X with a level at which the outcome never varies.

    ``outcome`` is the proportion of successes per row (binomial) or any per-row score whose
    extremes are 0 and 1. Such a level separates the data (quasi-)completely: the ML estimate of
    that coefficient is infinite.
    """
    notes = []
    for jcol, name in enumerate(names):
        values = np.unique(x[:, jcol])
        if len(values) != 2:
            continue
        for v in values:
            at = outcome[x[:, jcol] == v]
            for extreme, word in ((0.0, "failures"), (1.0, "successes")):
                if np.all(at == extreme):
                    notes.append(
                        f"quasi-complete separation: all {len(at)} responses with {name!r} = "
                        f"{v:g} are {word}; that coefficient's estimate tends to infinity"
                    )
    return notes


def check_no_intercept(x: np.ndarray, names: tuple[str, ...]) -> None:
    """For cumulative-link models: no column of X may be (a combination equal to) a constant."""
    if x.shape[1] == 0:
        return
    const = np.ptp(x, axis=0) == 0
    if const.any():
        raise ValueError(
            f"column {names[int(np.flatnonzero(const)[0])]!r} of X is constant: cumulative-link "
            "models have no intercept (the thresholds play its role); drop it"
        )
    ones = np.ones((x.shape[0], 1))
    try:
        _check_rank(np.hstack([ones, x]), ("(thresholds)", *names))
    except ValueError:
        raise ValueError(
            "X together with the thresholds is rank deficient: its columns add up to a constant "
            "(e.g. a full set of dummy variables); drop one level (use treatment or sum coding)"
        ) from None
