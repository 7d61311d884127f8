"""Simulate responses from the crossed random-intercept models (tests, benchmarks, power).

Given a design X, level codes per grouping factor and the true parameters, draw

    b_f ~ N(0, σ_f² I),   η = Xβ + Σ_f b_f[l_f],
    binomial:         y ~ Bernoulli(logistic(η))  (or Binomial(m, ·) with ``trials``),
    cumulative logit: Y = #{k : θ_k < η + ε},  ε ~ Logistic(0, 1),

the latter being equivalent to logit P(Y ≤ k) = θ_k − η.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["crossed_design", "simulate_binomial", "simulate_ordinal"]


def crossed_design(n_participants: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Participant and item codes of a fully crossed design (every participant sees every item)."""
    participant = np.repeat(np.arange(n_participants), n_items)
    item = np.tile(np.arange(n_items), n_participants)
    return participant, item


def _linear_predictor(
    X: np.ndarray,
    beta: Sequence[float],
    codes: Mapping[str, np.ndarray],
    variances: Mapping[str, float],
    rng: np.random.Generator,
) -> np.ndarray:
    eta = np.asarray(X, dtype=float) @ np.asarray(beta, dtype=float)
    for name, c in codes.items():
        c = np.asarray(c, dtype=np.intp)
        b = rng.normal(0.0, np.sqrt(variances[name]), size=int(c.max()) + 1)
        eta = eta + b[c]
    return np.asarray(eta)


def simulate_binomial(
    X: np.ndarray,
    beta: Sequence[float],
    codes: Mapping[str, np.ndarray],
    variances: Mapping[str, float],
    rng: np.random.Generator,
    trials: np.ndarray | None = None,
) -> np.ndarray:
    """Successes (0/1, or counts out of ``trials``) from the logistic mixed model."""
    eta = _linear_predictor(X, beta, codes, variances, rng)
    prob = 1.0 / (1.0 + np.exp(-eta))
    m = np.ones(len(eta), dtype=np.int64) if trials is None else np.asarray(trials, np.int64)
    return np.asarray(rng.binomial(m, prob), dtype=float)


def simulate_ordinal(
    X: np.ndarray,
    thresholds: Sequence[float],
    beta: Sequence[float],
    codes: Mapping[str, np.ndarray],
    variances: Mapping[str, float],
    rng: np.random.Generator,
) -> np.ndarray:
    """Category codes 0..K−1 from the cumulative-logit mixed model."""
    eta = _linear_predictor(X, beta, codes, variances, rng)
    latent = eta + rng.logistic(size=len(eta))
    return np.asarray(np.searchsorted(np.asarray(thresholds, dtype=float), latent), dtype=np.intp)
