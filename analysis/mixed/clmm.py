"""Cumulative-logit (proportional-odds) mixed model with crossed random intercepts, Laplace ML.

Model, for an ordinal response Y_i with categories 0..K−1 (Christensen 2019, "Cumulative link
models for ordinal regression with the R package ordinal"; the ``ordinal::clmm`` parameterisation):

    logit P(Y_i ≤ k | b) = θ_k − x_i'β − Σ_f b_{f, l_f(i)},   k = 0..K−2,   b_{f,·} ~ N(0, σ_f²),

with ordered thresholds θ_0 < … < θ_{K−2}; X has no intercept (the thresholds play that role).
A positive β_j shifts responses to higher categories; exp(β_j) is a cumulative odds ratio. The
marginal likelihood is approximated by the Laplace formula

    log L(θ, β, σ) ≈ Σ_i log[F(θ_{y_i} − η̂_i) − F(θ_{y_i−1} − η̂_i)] − ½‖û‖² − ½ log|H(û)|,

with F the logistic cdf, û the conditional modes of the spherical random effects and H the
negative Hessian of the joint log-density in u (the observed, exact second derivatives), as in
ordinal's clmm (Laplace). Standard errors come from the inverse of the Hessian of the Laplace
log-likelihood over all parameters (thresholds, β and σ). With no grouping factor this is the
plain cumulative link model (``ordinal::clm``, ``statsmodels`` ``OrderedModel``, logit).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .assemble import build_result
from .crossed import CrossedDesign
from .design import as_design, as_groups, as_vector, check_no_intercept, separation_notes
from .families import CumulativeLogit
from .laplace import LaplaceModel
from .optimize import START_SIGMA, maximize
from .result import MixedModelResult
from .threads import single_threaded_blas

__all__ = ["fit_clmm"]


def _ordinal_response(
    y: Any, n_categories: int | None, labels: Sequence[str] | None
) -> tuple[np.ndarray, int, tuple[str, ...], list[str]]:
    """Codes remapped onto the observed categories, their count, threshold names and notes."""
    yy = as_vector(y, "y")
    if len(yy) == 0:
        raise ValueError("no observations")
    if np.any(yy != np.round(yy)) or np.any(yy < 0):
        raise ValueError("y must hold integer category codes 0..K−1")
    codes = yy.astype(np.intp)
    k = int(codes.max()) + 1 if n_categories is None else int(n_categories)
    if n_categories is not None and codes.max() >= k:
        raise ValueError(f"y has code {int(codes.max())} but n_categories is {k}")
    names = [str(c + 1) for c in range(k)] if labels is None else [str(s) for s in labels]
    if len(names) != k:
        raise ValueError(f"category_labels has {len(names)} labels for {k} categories")
    used = np.flatnonzero(np.bincount(codes, minlength=k))
    if len(used) < 2:
        raise ValueError(
            f"the outcome is constant (only category {names[int(used[0])]!r} observed); "
            "a cumulative-link model cannot be fit"
        )
    notes = []
    unused = [names[c] for c in range(k) if c not in set(used.tolist())]
    if unused:
        notes.append(
            f"categor{'y' if len(unused) == 1 else 'ies'} {', '.join(map(repr, unused))} never "
            "observed: thresholds are estimated between the observed categories only"
        )
    remap = np.full(k, -1, dtype=np.intp)
    remap[used] = np.arange(len(used))
    threshold_names = tuple(f"{names[a]}|{names[b]}" for a, b in itertools.pairwise(used))
    return remap[codes], len(used), threshold_names, notes


def fit_clmm(
    y: Any,
    X: Any,
    groups: Mapping[str, Any],
    *,
    fixed_names: Sequence[str],
    n_categories: int | None = None,
    category_labels: Sequence[str] | None = None,
    max_iter: int = 500,
    tol: float = 1e-8,
) -> MixedModelResult:
    """Fit a cumulative-logit mixed model with crossed random intercepts by Laplace ML.

    ``y``: ordinal codes 0..K−1 (K = ``n_categories``, default max(y) + 1); ``X``: n × p design
    without an intercept (p may be 0); ``groups``: factor name → labels, one random-intercept
    variance per factor, possibly empty (plain cumulative link model). Threshold names are
    ``"a|b"`` with the category labels (default 1..K). Unobserved categories are dropped with a
    note; a constant outcome, an intercept-like or collinear column, missing values or a factor
    with one level raise :class:`ValueError`.
    ``max_iter`` and ``tol`` go to L-BFGS-B (iterations; projected-gradient tolerance on the
    log-likelihood per observation); Newton steps then polish the optimum. Fits run with
    single-threaded BLAS (see :mod:`.threads`).
    """
    codes, k, threshold_names, notes = _ordinal_response(y, n_categories, category_labels)
    n = len(codes)
    names = tuple(str(s) for s in fixed_names)
    x = as_design(X, names, n)
    check_no_intercept(x, names)
    grp = as_groups(groups, n)
    # a level of a two-valued column whose responses are all in the top (or all in the bottom)
    # category separates the data: its coefficient tends to ±∞
    extreme = np.where(codes == k - 1, 1.0, np.where(codes == 0, 0.0, 0.5))
    notes += [
        note.replace("successes", "in the top category").replace(
            "failures", "in the bottom category"
        )
        for note in separation_notes(extreme, x, names)
    ]

    family = CumulativeLogit(codes, k)
    cum = np.cumsum(np.bincount(codes, minlength=k))[:-1] / n
    start0 = np.concatenate([np.log(cum / (1.0 - cum)), np.zeros(x.shape[1])])
    clm = LaplaceModel(family, x, None)
    design = None
    with single_threaded_blas():
        if grp.names:
            start = maximize(clm, start0, ordered_psi=True, tol=1e-5, finish=False)
            design = CrossedDesign(grp.codes, grp.n_levels)
            model = LaplaceModel(family, x, design)
            params0 = np.concatenate([start.params, np.full(design.k, START_SIGMA)])
        else:
            model, params0 = clm, start0
        opt = maximize(model, params0, ordered_psi=True, max_iter=max_iter, tol=tol)
    return build_result(
        family="cumulative_logit",
        opt=opt,
        n_psi=k - 1,
        fixed_names=names,
        threshold_names=threshold_names,
        groups=grp,
        design=design,
        n_obs=n,
        loglik_constant=0.0,
        notes=notes,
    )
