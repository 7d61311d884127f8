"""Per-observation log-likelihoods and their derivatives in the linear predictor η.

Two response families share one interface so that the Laplace core (:mod:`.laplace`) is written
once:

* binomial with logit link, y successes out of m trials:
  ℓ(η) = y·η − m·log(1 + e^η) (+ log C(m, y), added once as a constant);
* cumulative logit for an ordinal response with categories 0..K−1 (Christensen 2019, ordinal):
  P(Y ≤ k) = F(θ_k − η) with F the logistic cdf, so ℓ(η) = log[F(θ_y − η) − F(θ_{y−1} − η)]
  with θ_{−1} = −∞ and θ_{K−1} = +∞. The thresholds θ are the family's own parameters ψ.

Both log-likelihoods are concave in η, which makes the penalised Newton iteration for the random
effects globally convergent with step halving.

``inner`` returns (Σℓ, ℓ′, ℓ″); ``full`` adds ℓ‴ and the derivatives of ℓ, ℓ′, ℓ″ with respect to
ψ as dense n × J arrays (J = 0 for the binomial family), which the analytic gradient of the Laplace
log-likelihood needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.special import expit, gammaln

__all__ = ["Binomial", "CumulativeLogit", "Derivatives", "Family"]


@dataclass(frozen=True)
class Derivatives:
    """ℓ summed, its η-derivatives per observation and the ψ-derivatives.

    The ψ-derivatives are sparse (each observation involves at most two thresholds): entry e
    is row ``psi_row[e]``, parameter ``psi_col[e]``, with ∂ℓ/∂ψ, ∂ℓ′/∂ψ, ∂ℓ″/∂ψ in
    ``psi_l``, ``psi_d1``, ``psi_d2``; no (row, parameter) pair repeats.
    """

    loglik: float
    d1: np.ndarray
    d2: np.ndarray
    d3: np.ndarray
    psi_row: np.ndarray
    psi_col: np.ndarray
    psi_l: np.ndarray
    psi_d1: np.ndarray
    psi_d2: np.ndarray


class Family(Protocol):
    n_psi: int

    def inner(self, eta: np.ndarray, psi: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]: ...

    def loglik(self, eta: np.ndarray, psi: np.ndarray) -> float: ...

    def full(self, eta: np.ndarray, psi: np.ndarray) -> Derivatives: ...


class Binomial:
    """Binomial counts (or 0/1 responses) with the logit link."""

    n_psi = 0

    def __init__(self, successes: np.ndarray, trials: np.ndarray) -> None:
        self.y = np.asarray(successes, dtype=float)
        self.m = np.asarray(trials, dtype=float)
        # log binomial coefficients: lme4 includes them in its log-likelihood (family$aic)
        self.constant = float(
            np.sum(gammaln(self.m + 1) - gammaln(self.y + 1) - gammaln(self.m - self.y + 1))
        )

    def loglik(self, eta: np.ndarray, psi: np.ndarray) -> float:
        return float(np.sum(self.y * eta - self.m * np.logaddexp(0.0, eta)))

    def inner(self, eta: np.ndarray, psi: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        mu = expit(eta)
        d1 = self.y - self.m * mu
        d2 = -self.m * mu * (1.0 - mu)
        return self.loglik(eta, psi), d1, d2

    def full(self, eta: np.ndarray, psi: np.ndarray) -> Derivatives:
        ll, d1, d2 = self.inner(eta, psi)
        mu = expit(eta)
        d3 = d2 * (1.0 - 2.0 * mu)
        idx, val = np.zeros(0, dtype=np.intp), np.zeros(0)
        return Derivatives(ll, d1, d2, d3, idx, idx, val, val, val)


class CumulativeLogit:
    """Ordinal response coded 0..K−1 under the cumulative logit link, thresholds ψ = θ.

    P = F(a) − F(c) with a = θ_y − η, c = θ_{y−1} − η is evaluated as 1−F(c) − (1−F(a)) when
    c > 0, so that there is no cancellation in the upper tail (both F near 1).
    """

    def __init__(self, codes: np.ndarray, n_categories: int) -> None:
        self.y = np.asarray(codes, dtype=np.intp)
        self.n_categories = int(n_categories)
        self.n_psi = self.n_categories - 1
        j = self.n_psi
        up_rows = np.flatnonzero(self.y < j)
        lo_rows = np.flatnonzero(self.y > 0)
        self._up_rows, self._lo_rows = up_rows, lo_rows
        self._psi_row = np.concatenate([up_rows, lo_rows])
        self._psi_col = np.concatenate([self.y[up_rows], self.y[lo_rows] - 1])
        self._upper_index = self.y + 1

    def _parts(
        self, eta: np.ndarray, psi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """F(a), F(c), f(a)/P, f(c)/P and P."""
        ext = np.concatenate([[-np.inf], np.asarray(psi, dtype=float), [np.inf]])
        a = ext.take(self._upper_index) - eta
        c = ext.take(self.y) - eta
        fa, fc = expit(a), expit(c)
        ga, gc = expit(-a), expit(-c)
        prob = np.where(c > 0, gc - ga, fa - fc)
        # P underflows to 0 only far outside the data's range (a trial point of the optimiser);
        # ℓ is then −∞ and the ratios are set to 0 instead of NaN
        inv = np.divide(1.0, prob, out=np.zeros_like(prob), where=prob > 0)
        return fa, fc, fa * ga * inv, fc * gc * inv, prob

    def loglik(self, eta: np.ndarray, psi: np.ndarray) -> float:
        *_, prob = self._parts(eta, psi)
        if np.any(prob <= 0):
            return -np.inf
        return float(np.sum(np.log(prob)))

    def inner(self, eta: np.ndarray, psi: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        fa, fc, ra, rc, prob = self._parts(eta, psi)
        if np.any(prob <= 0):
            return -np.inf, np.zeros_like(eta), np.zeros_like(eta)
        p1 = rc - ra
        p2 = ra * (1.0 - 2.0 * fa) - rc * (1.0 - 2.0 * fc)
        return float(np.sum(np.log(prob))), p1, p2 - p1 * p1

    def full(self, eta: np.ndarray, psi: np.ndarray) -> Derivatives:
        fa, fc, ra, rc, prob = self._parts(eta, psi)
        ga, gc = 1.0 - 2.0 * fa, 1.0 - 2.0 * fc
        ha, hc = 1.0 - 6.0 * fa * (1.0 - fa), 1.0 - 6.0 * fc * (1.0 - fc)
        # P1/P, P2/P, P3/P: η-derivatives of P = F(a) − F(c), divided by P
        p1 = rc - ra
        p2 = ra * ga - rc * gc
        p3 = rc * hc - ra * ha
        d2 = p2 - p1 * p1
        d3 = p3 - 3.0 * p1 * p2 + 2.0 * p1**3
        # derivatives with respect to the upper threshold θ_y and the lower one θ_{y−1}
        up_d1 = -ra * (ga + p1)
        lo_d1 = rc * (gc + p1)
        up_d2 = ra * (ha - p2) - 2.0 * p1 * up_d1
        lo_d2 = rc * (p2 - hc) - 2.0 * p1 * lo_d1
        up, lo = self._up_rows, self._lo_rows
        psi_l = np.concatenate([ra[up], -rc[lo]])
        psi_d1 = np.concatenate([up_d1[up], lo_d1[lo]])
        psi_d2 = np.concatenate([up_d2[up], lo_d2[lo]])
        ll = float(np.sum(np.log(prob))) if np.all(prob > 0) else -np.inf
        return Derivatives(ll, p1, d2, d3, self._psi_row, self._psi_col, psi_l, psi_d1, psi_d2)
