"""Profile-likelihood intervals for the fixed effects of the logistic mixed model.

For a fixed effect β_j, the profile log-likelihood ℓ_p(b) = max over the other fixed effects and
the variances of the Laplace log-likelihood with β_j = b (the column x_j·b moves into an offset).
The interval is {b : 2(ℓ̂ − ℓ_p(b)) ≤ χ²₁(level)} (Venzon & Moolgavkar 1988; R's
``confint(glmer_fit, method = "profile")`` for the fixed effects, Bates et al. 2015). Unlike the
Wald interval β̂ ± z·SE it follows the curvature of the likelihood, which is what small samples
need: with 48 participants the Wald intervals of the logistic mixed model covered the true
effect only 90.5–93 % of the time (issue 21). Each evaluation is a full Laplace fit (warm
started), so this costs some tens of fits per coefficient.

An end that the likelihood never drops below the cut-off within 12 doublings of the search
step (separation: the estimate is at infinity on that side) is returned as ±inf.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import optimize, stats

from .crossed import CrossedDesign
from .design import as_design, as_groups
from .families import Binomial, Derivatives
from .glmm import _binomial_response
from .laplace import LaplaceModel
from .optimize import maximize
from .result import MixedModelResult
from .threads import single_threaded_blas

__all__ = ["profile_intervals_binomial"]


class _Offset:
    """A family whose linear predictor is shifted by a fixed offset (η + o)."""

    def __init__(self, base: Binomial, offset: np.ndarray) -> None:
        self.base = base
        self.offset = offset
        self.n_psi = base.n_psi

    def inner(self, eta: np.ndarray, psi: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        return self.base.inner(eta + self.offset, psi)

    def loglik(self, eta: np.ndarray, psi: np.ndarray) -> float:
        return self.base.loglik(eta + self.offset, psi)

    def full(self, eta: np.ndarray, psi: np.ndarray) -> Derivatives:
        return self.base.full(eta + self.offset, psi)


def _gap(b: float, profile: Callable[[float], float], best: float, cut: float) -> float:
    """Positive inside the interval, zero at its ends."""
    return best - profile(b) - cut


def profile_intervals_binomial(
    y: Any,
    X: Any,
    groups: Mapping[str, Any],
    *,
    fixed_names: Sequence[str],
    fit: MixedModelResult,
    level: float = 0.95,
    terms: Sequence[str] | None = None,
    xtol: float = 1e-4,
) -> np.ndarray:
    """Profile-likelihood intervals (p × 2, rows in ``fixed_names`` order; NaN for terms not
    asked for) of the model ``fit`` = ``fit_glmm_binomial(y, X, groups, ...)``.

    Raises ``ValueError`` for a model with one fixed effect (nothing to profile over is
    supported only with two or more) or a ``level`` outside (0, 1)."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1 (got {level})")
    yy, m = _binomial_response(y, None)
    names = tuple(str(s) for s in fixed_names)
    x = as_design(X, names, len(yy))
    p = x.shape[1]
    if p < 2:
        raise ValueError("profile intervals need at least two fixed effects")
    grp = as_groups(groups, len(yy))
    design = CrossedDesign(grp.codes, grp.n_levels) if grp.names else None
    sigma_user = np.array([np.sqrt(max(fit.variances.get(n, 0.0), 0.0)) for n in grp.names])
    sigma = np.maximum(sigma_user[list(design.order)], 0.05) if design is not None else np.zeros(0)
    family = Binomial(yy, m)
    cut = float(stats.chi2.ppf(level, 1)) / 2.0
    out = np.full((p, 2), np.nan)
    wanted = set(names if terms is None else terms)

    with single_threaded_blas():
        for j, name in enumerate(names):
            if name not in wanted:
                continue
            others = np.delete(x, j, axis=1)
            start = [np.concatenate([np.delete(fit.fixed, j), sigma])]

            def profile(
                b: float, j: int = j, others: np.ndarray = others, start: list[Any] = start
            ) -> float:
                model = LaplaceModel(_Offset(family, x[:, j] * b), others, design)
                opt = maximize(model, start[0], ordered_psi=False, tol=1e-9)
                start[0] = opt.params
                return float(opt.loglik)

            best = profile(float(fit.fixed[j]))
            se = float(fit.fixed_se[j])
            step = se if np.isfinite(se) and se > 0 else 0.5
            for side, col in ((-1.0, 0), (1.0, 1)):
                start[0] = np.concatenate([np.delete(fit.fixed, j), sigma])
                inner, outer = float(fit.fixed[j]), float(fit.fixed[j]) + side * 2.0 * step
                found = False
                for _ in range(12):
                    if best - profile(outer) > cut:
                        found = True
                        break
                    inner, outer = outer, outer + (outer - inner) * 2.0
                if not found:
                    out[j, col] = side * np.inf
                    continue
                lo, hi = sorted((inner, outer))
                out[j, col] = optimize.brentq(_gap, lo, hi, args=(profile, best, cut), xtol=xtol)
    return out
