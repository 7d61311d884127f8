"""Result containers of the mixed-model fits.

:class:`MixedModelResult` holds a generalised (binomial or cumulative-logit) mixed model fitted by
maximum likelihood with the Laplace approximation; :class:`LinearMixedResult` a linear mixed model
fitted by REML. Both give Wald confidence intervals, z statistics and two-sided p-values for the
fixed effects:

    CI = β̂ ± z_{(1+level)/2} · SE(β̂),   z = β̂ / SE(β̂),   p = 2 Φ(−|z|).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

__all__ = ["LinearMixedResult", "MixedModelResult"]


def _empty_matrix() -> np.ndarray:
    return np.zeros((0, 0))


def _wald_interval(estimate: np.ndarray, se: np.ndarray, level: float) -> np.ndarray:
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must lie strictly between 0 and 1, got {level!r}")
    z = float(stats.norm.ppf(0.5 + level / 2.0))
    est = np.asarray(estimate, dtype=float)
    half = z * np.asarray(se, dtype=float)
    return np.column_stack([est - half, est + half])


def _wald_z(estimate: np.ndarray, se: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(estimate, dtype=float) / np.asarray(se, dtype=float)


def _wald_p(z: np.ndarray) -> np.ndarray:
    return np.asarray(2.0 * stats.norm.sf(np.abs(z)), dtype=float)


@dataclass(frozen=True)
class MixedModelResult:
    """A binomial-logit or cumulative-logit mixed model fitted by Laplace maximum likelihood.

    ``fixed`` and ``thresholds`` are on the log-odds scale. ``variances`` maps each grouping factor
    to the variance of its random intercepts (0.0 for a boundary fit, with a note). ``vcov`` is the
    covariance matrix of ``(thresholds, fixed)`` in that order (thresholds first, possibly none).
    ``random_effects`` holds the conditional modes of the random intercepts per factor, in the order
    of ``group_levels``. SEs of an unidentified direction (separation, a singular Hessian) are NaN
    and are always accompanied by a note.
    """

    family: str
    fixed_names: tuple[str, ...]
    fixed: np.ndarray
    fixed_se: np.ndarray
    threshold_names: tuple[str, ...]
    thresholds: np.ndarray
    threshold_se: np.ndarray
    variances: dict[str, float]
    loglik: float
    n_obs: int
    n_groups: dict[str, int]
    converged: bool
    notes: tuple[str, ...]
    vcov: np.ndarray = field(default_factory=_empty_matrix)
    random_effects: dict[str, np.ndarray] = field(default_factory=dict)
    group_levels: dict[str, np.ndarray] = field(default_factory=dict)
    n_iterations: int = 0

    @property
    def fixed_cov(self) -> np.ndarray:
        """Covariance matrix of the fixed effects (p × p), for contrasts."""
        j = len(self.thresholds)
        return np.asarray(self.vcov[j:, j:])

    @property
    def n_params(self) -> int:
        """Number of estimated parameters (thresholds, fixed effects, variances)."""
        return len(self.thresholds) + len(self.fixed) + len(self.variances)

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.n_params

    def conf_int(self, level: float = 0.95) -> np.ndarray:
        """Wald confidence intervals for the fixed effects, shape (p, 2)."""
        return _wald_interval(self.fixed, self.fixed_se, level)

    def threshold_conf_int(self, level: float = 0.95) -> np.ndarray:
        """Wald confidence intervals for the thresholds, shape (K − 1, 2)."""
        return _wald_interval(self.thresholds, self.threshold_se, level)

    def z_values(self) -> np.ndarray:
        return _wald_z(self.fixed, self.fixed_se)

    def p_values(self) -> np.ndarray:
        """Two-sided Wald p-values for the fixed effects."""
        return _wald_p(self.z_values())

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Population-level probabilities (random effects at zero) for the rows of ``X``.

        Binomial: P(success), shape (m,). Cumulative logit: category probabilities, shape
        (m, K), from P(Y ≤ k) = logistic(θ_k − x'β).
        """
        x = np.atleast_2d(np.asarray(X, dtype=float))
        if x.shape[1] != len(self.fixed):
            raise ValueError(f"X has {x.shape[1]} columns, the model has {len(self.fixed)}")
        eta = x @ self.fixed
        if self.family == "binomial":
            return np.asarray(1.0 / (1.0 + np.exp(-eta)))
        cum = 1.0 / (1.0 + np.exp(-(self.thresholds[None, :] - eta[:, None])))
        cum = np.column_stack([np.zeros(len(eta)), cum, np.ones(len(eta))])
        return np.diff(cum, axis=1)


@dataclass(frozen=True)
class LinearMixedResult:
    """A linear mixed model fitted by REML (or ML).

    ``random_cov`` is the covariance matrix of the random effects of ``random_names`` (e.g.
    intercept and slope); ``variances`` lists its diagonal by name plus ``"Residual"``.
    """

    fixed_names: tuple[str, ...]
    fixed: np.ndarray
    fixed_se: np.ndarray
    random_names: tuple[str, ...]
    random_cov: np.ndarray
    residual_variance: float
    variances: dict[str, float]
    loglik: float
    reml: bool
    n_obs: int
    n_groups: int
    converged: bool
    notes: tuple[str, ...]
    fixed_cov: np.ndarray = field(default_factory=_empty_matrix)

    def conf_int(self, level: float = 0.95) -> np.ndarray:
        """Wald confidence intervals for the fixed effects, shape (p, 2)."""
        return _wald_interval(self.fixed, self.fixed_se, level)

    def z_values(self) -> np.ndarray:
        return _wald_z(self.fixed, self.fixed_se)

    def p_values(self) -> np.ndarray:
        return _wald_p(self.z_values())
