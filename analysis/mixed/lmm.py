"""Linear mixed model with (correlated) random effects of one grouping factor, by REML.

Model, for observation i in group g(i):

    y_i = x_i'β + z_i'b_{g(i)} + ε_i,   b_g ~ N(0, Σ_b),   ε_i ~ N(0, σ²),

e.g. ``lmer(Reaction ~ Days + (Days | Subject))`` with z_i = (1, Days_i). This is a thin wrapper
over statsmodels' ``MixedLM`` (REML by default; Lindstrom & Bates 1988), returning the estimates in
the shape of the other mixed-model results; ``random_cov`` is Σ_b on the data scale and
``variances`` its diagonal plus ``"Residual"`` (σ²), as ``VarCorr`` in lme4 (Bates et al. 2015).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm

from .design import as_design, as_vector
from .result import LinearMixedResult

__all__ = ["fit_lmm"]


def fit_lmm(
    y: Any,
    X: Any,
    groups: Any,
    *,
    fixed_names: Sequence[str],
    random: Any | None = None,
    random_names: Sequence[str] | None = None,
    reml: bool = True,
) -> LinearMixedResult:
    """Fit a linear mixed model by REML (or ML with ``reml=False``).

    ``X``: n × p fixed-effect design (with the intercept column if wanted); ``groups``: the
    labels of the single grouping factor; ``random``: n × r random-effect design (default: a
    random intercept only), named by ``random_names`` (default ``("(Intercept)",)`` or
    ``re0, re1, …``).
    """
    yy = as_vector(y, "y")
    n = len(yy)
    names = tuple(str(s) for s in fixed_names)
    x = as_design(X, names, n)
    labels = np.asarray(groups, dtype=object)
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"groups must be one label per row ({n} rows)")
    codes, uniques = pd.factorize(pd.Series(labels))
    if (codes < 0).any():
        raise ValueError("groups has missing labels")
    if len(uniques) < 2:
        raise ValueError("the grouping factor has a single level; its variance is not identifiable")
    if random is None:
        z = np.ones((n, 1))
        rnames: tuple[str, ...] = ("(Intercept)",)
    else:
        z = np.asarray(random, dtype=float)
        z = z[:, None] if z.ndim == 1 else z
        if z.shape[0] != n:
            raise ValueError(f"random has {z.shape[0]} rows for {n} observations")
        if not np.all(np.isfinite(z)):
            raise ValueError("random has missing or non-finite values")
        default = (
            ("(Intercept)",) if z.shape[1] == 1 else tuple(f"re{i}" for i in range(z.shape[1]))
        )
        rnames = tuple(str(s) for s in random_names) if random_names is not None else default
        if len(rnames) != z.shape[1]:
            raise ValueError(f"random_names has {len(rnames)} names for {z.shape[1]} columns")
    if np.var(yy) == 0:
        raise ValueError("the outcome is constant; a linear mixed model cannot be fit")

    notes: list[str] = []
    model = sm.MixedLM(yy, x, groups=codes, exog_re=z)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = model.fit(reml=reml)
    for w in caught:
        notes.append(f"statsmodels: {w.message}")
    cov_re = np.atleast_2d(np.asarray(fit.cov_re, dtype=float))
    scale = float(fit.scale)
    p = x.shape[1]
    fixed_cov = np.asarray(fit.cov_params(), dtype=float)[:p, :p]
    if np.any(np.diag(cov_re) < 1e-10 * max(scale, 1e-300)):
        notes.append("boundary (singular) fit: a random-effect variance is estimated as 0")
    variances = {name: float(cov_re[i, i]) for i, name in enumerate(rnames)}
    variances["Residual"] = scale
    return LinearMixedResult(
        fixed_names=names,
        fixed=np.asarray(fit.fe_params, dtype=float),
        fixed_se=np.asarray(fit.bse_fe, dtype=float),
        random_names=rnames,
        random_cov=cov_re,
        residual_variance=scale,
        variances=variances,
        loglik=float(fit.llf),
        reml=bool(reml),
        n_obs=n,
        n_groups=len(uniques),
        converged=bool(fit.converged),
        notes=tuple(dict.fromkeys(notes)),
        fixed_cov=fixed_cov,
    )
