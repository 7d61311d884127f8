"""Standardised effect sizes with confidence intervals.

Every function returns an :class:`EffectSize` (estimate, CI, and the sample sizes behind it).

Exact CIs for d and g invert the noncentral t distribution (Steiger & Fouladi 1997; Cumming &
Finch 2001): for an observed t on ν degrees of freedom, the bounds of the noncentrality
parameter δ solve ``P(T_ν,δ ≤ t) = 1 − α/2`` and ``= α/2``; d's bounds are δ scaled the same way
as t is scaled to d. This is what R's ``effectsize`` and MBESS's ``ci.smd`` compute (pingouin's
``compute_esci`` is a normal approximation). CIs for the proportion of variance explained invert
the noncentral F the same way (Steiger 2004; effectsize's ``F_to_eta2``).

References: Cohen (1988) *Statistical power analysis*; Hedges (1981) J. Educ. Stat. 6:107–128
(exact small-sample correction J); Kerby (2014) Compr. Psychol. 3 (rank-biserial); Cliff (1993)
Psychol. Bull. 114:494–509; Newcombe (1998) Stat. Med. 17:873–890 (method 10).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

__all__ = [
    "EffectSize",
    "cliffs_delta",
    "cohens_d",
    "cohens_d_from_summary",
    "cohens_d_one_sample",
    "cohens_d_paired",
    "cohens_h",
    "eta2_ci_from_f",
    "hedges_correction",
    "hedges_g",
    "hedges_g_from_summary",
    "newcombe_risk_difference",
    "partial_eta_squared",
    "partial_omega_squared",
    "rank_biserial_independent",
    "rank_biserial_paired",
    "wilson_interval",
]

ArrayLike = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class EffectSize:
    """An effect size, its confidence interval and what it was computed from."""

    name: str
    estimate: float
    ci_low: float
    ci_high: float
    n: int
    level: float = 0.95
    note: str = ""


def _clean(x: ArrayLike) -> np.ndarray:
    arr = np.asarray(x, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def _solve_monotone(f: Callable[[float], float], guess: float, step: float) -> float:
    """Root of a monotone function, bracketing outward from ``guess`` by doubling steps."""
    lo, hi = guess - step, guess + step
    flo, fhi = f(lo), f(hi)
    for _ in range(60):
        if np.sign(flo) != np.sign(fhi):
            return float(optimize.brentq(f, lo, hi, xtol=1e-12, rtol=1e-12, maxiter=500))
        step *= 2.0
        lo, hi = guess - step, guess + step
        flo, fhi = f(lo), f(hi)
    raise ValueError("could not bracket the noncentrality parameter")


def nct_ci(t: float, df: float, level: float = 0.95) -> tuple[float, float]:
    """Exact CI for the noncentrality parameter δ of a t statistic.

    Solves ``F_{ν,δ}(t) = (1 + level)/2`` for the lower bound and ``(1 − level)/2`` for the
    upper bound (the CDF decreases in δ).
    """
    if not (np.isfinite(t) and df > 0):
        return (math.nan, math.nan)
    alpha = 1.0 - level

    def target(q: float) -> Callable[[float], float]:
        return lambda ncp: float(stats.nct.cdf(t, df, ncp)) - q

    step = 2.0 + abs(t) * 0.5
    low = _solve_monotone(target(1.0 - alpha / 2.0), t, step)
    high = _solve_monotone(target(alpha / 2.0), t, step)
    return (low, high)


def hedges_correction(df: float) -> float:
    """Exact small-sample correction J(ν) = Γ(ν/2) / (√(ν/2)·Γ((ν−1)/2)) (Hedges 1981).

    Computed on the log scale so that large ν stays accurate; NaN for ν ≤ 1.
    """
    if not df > 1:
        return math.nan
    log_j = special.gammaln(df / 2.0) - special.gammaln((df - 1.0) / 2.0) - 0.5 * math.log(df / 2)
    return float(math.exp(log_j))


def cohens_d_from_summary(
    mean1: float,
    var1: float,
    n1: int,
    mean2: float,
    var2: float,
    n2: int,
    *,
    level: float = 0.95,
) -> EffectSize:
    """Cohen's d for two independent groups from summary statistics, exact CI.

    ``d = (m₁ − m₂) / s_p`` with ``s_p² = ((n₁−1)s₁² + (n₂−1)s₂²) / (n₁+n₂−2)``;
    ``t = d / √(1/n₁ + 1/n₂)`` on ν = n₁+n₂−2 df; δ's exact bounds are scaled back the same way.
    """
    df = n1 + n2 - 2
    if n1 < 2 or n2 < 2:
        return EffectSize(
            "cohens_d",
            math.nan,
            math.nan,
            math.nan,
            n1 + n2,
            level,
            "needs at least 2 observations per group",
        )
    pooled = ((n1 - 1) * var1 + (n2 - 1) * var2) / df
    if not pooled > 0:
        return EffectSize(
            "cohens_d",
            math.nan,
            math.nan,
            math.nan,
            n1 + n2,
            level,
            "zero variance in both groups: d is undefined",
        )
    d = (mean1 - mean2) / math.sqrt(pooled)
    scale = math.sqrt(1.0 / n1 + 1.0 / n2)
    low, high = nct_ci(d / scale, df, level)
    return EffectSize("cohens_d", d, low * scale, high * scale, n1 + n2, level)


def cohens_d(x: ArrayLike, y: ArrayLike, *, level: float = 0.95) -> EffectSize:
    """Cohen's d (pooled SD) for ``x − y``, independent groups, with the exact CI."""
    a, b = _clean(x), _clean(y)
    var_a = float(np.var(a, ddof=1)) if a.size > 1 else math.nan
    var_b = float(np.var(b, ddof=1)) if b.size > 1 else math.nan
    mean_a = float(a.mean()) if a.size else math.nan
    mean_b = float(b.mean()) if b.size else math.nan
    return cohens_d_from_summary(mean_a, var_a, a.size, mean_b, var_b, b.size, level=level)


def _to_g(d: EffectSize, df: float) -> EffectSize:
    j = hedges_correction(df)
    return EffectSize("hedges_g", d.estimate * j, d.ci_low * j, d.ci_high * j, d.n, d.level, d.note)


def hedges_g(x: ArrayLike, y: ArrayLike, *, level: float = 0.95) -> EffectSize:
    """Hedges' g = J(ν)·d with the exact J; its CI is d's exact CI times J (as ``effectsize``)."""
    a, b = _clean(x), _clean(y)
    return _to_g(cohens_d(a, b, level=level), a.size + b.size - 2)


def hedges_g_from_summary(
    mean1: float,
    var1: float,
    n1: int,
    mean2: float,
    var2: float,
    n2: int,
    *,
    level: float = 0.95,
) -> EffectSize:
    """Hedges' g from summary statistics (see :func:`cohens_d_from_summary`)."""
    d = cohens_d_from_summary(mean1, var1, n1, mean2, var2, n2, level=level)
    return _to_g(d, n1 + n2 - 2)


def cohens_d_one_sample(x: ArrayLike, mu: float = 0.0, *, level: float = 0.95) -> EffectSize:
    """One-sample d = (x̄ − μ)/s, t = d√n on n−1 df, exact CI."""
    a = _clean(x)
    n = a.size
    if n < 2:
        return EffectSize(
            "cohens_d", math.nan, math.nan, math.nan, n, level, "needs at least 2 observations"
        )
    sd = float(np.std(a, ddof=1))
    if not sd > 0:
        return EffectSize(
            "cohens_d", math.nan, math.nan, math.nan, n, level, "zero variance: d is undefined"
        )
    d = (float(a.mean()) - mu) / sd
    scale = 1.0 / math.sqrt(n)
    low, high = nct_ci(d / scale, n - 1, level)
    return EffectSize("cohens_d", d, low * scale, high * scale, n, level)


def cohens_d_paired(x: ArrayLike, y: ArrayLike, *, level: float = 0.95) -> EffectSize:
    """Paired d_z = mean(x − y) / sd(x − y) with the exact CI (not d_av; report it as d_z)."""
    a = np.asarray(x, dtype=float).ravel()
    b = np.asarray(y, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError("paired samples must have the same length")
    es = cohens_d_one_sample(a - b, 0.0, level=level)
    return EffectSize("cohens_dz", es.estimate, es.ci_low, es.ci_high, es.n, level, es.note)


def rank_biserial_paired(x: ArrayLike, y: ArrayLike, *, level: float = 0.95) -> EffectSize:
    """Matched-pairs rank-biserial r = (T⁺ − T⁻) / (n(n+1)/2) (Kerby 2014).

    Zero differences are dropped (as Wilcoxon's test and ``effectsize`` do). CI by Fisher's z with
    ``SE = √((2n³ + 3n² + n)/6) / (n(n+1)/2)`` (King, Rosopa & Minium 2011).
    """
    a = np.asarray(x, dtype=float).ravel()
    b = np.asarray(y, dtype=float).ravel()
    diff = a - b
    diff = diff[np.isfinite(diff) & (diff != 0)]
    n = diff.size
    if n == 0:
        return EffectSize(
            "rank_biserial",
            math.nan,
            math.nan,
            math.nan,
            0,
            level,
            "all paired differences are zero: r is undefined",
        )
    ranks = stats.rankdata(np.abs(diff))
    total = n * (n + 1) / 2.0
    r = float((ranks[diff > 0].sum() - ranks[diff < 0].sum()) / total)
    se = math.sqrt((2 * n**3 + 3 * n**2 + n) / 6.0) / total
    low, high = _fisher_ci(r, se, level)
    return EffectSize("rank_biserial", r, low, high, n, level)


def rank_biserial_independent(x: ArrayLike, y: ArrayLike, *, level: float = 0.95) -> EffectSize:
    """Rank-biserial r = 2U₁/(n₁n₂) − 1 for independent groups (= Cliff's δ), Fisher-z CI.

    ``SE = √((n₁ + n₂ + 1) / (3 n₁ n₂))``. Positive when x tends to exceed y.
    """
    a, b = _clean(x), _clean(y)
    n1, n2 = a.size, b.size
    if n1 == 0 or n2 == 0:
        return EffectSize(
            "rank_biserial", math.nan, math.nan, math.nan, n1 + n2, level, "one group is empty"
        )
    ranks = stats.rankdata(np.concatenate([a, b]))
    u1 = ranks[:n1].sum() - n1 * (n1 + 1) / 2.0
    r = float(2.0 * u1 / (n1 * n2) - 1.0)
    se = math.sqrt((n1 + n2 + 1) / (3.0 * n1 * n2))
    low, high = _fisher_ci(r, se, level)
    return EffectSize("rank_biserial", r, low, high, n1 + n2, level)


def cliffs_delta(x: ArrayLike, y: ArrayLike, *, level: float = 0.95) -> EffectSize:
    """Cliff's δ = P(X > Y) − P(X < Y), by dominance counts; CI as the rank-biserial's."""
    a, b = np.sort(_clean(x)), np.sort(_clean(y))
    if a.size == 0 or b.size == 0:
        return EffectSize(
            "cliffs_delta",
            math.nan,
            math.nan,
            math.nan,
            a.size + b.size,
            level,
            "one group is empty",
        )
    greater = np.searchsorted(b, a, side="left").sum()  # pairs with y < x
    less = (b.size - np.searchsorted(b, a, side="right")).sum()  # pairs with y > x
    delta = float((greater - less) / (a.size * b.size))
    rb = rank_biserial_independent(a, b, level=level)
    se = math.sqrt((a.size + b.size + 1) / (3.0 * a.size * b.size))
    low, high = _fisher_ci(delta, se, level)
    return EffectSize("cliffs_delta", delta, low, high, rb.n, level)


def _fisher_ci(r: float, se: float, level: float) -> tuple[float, float]:
    z = stats.norm.ppf(0.5 + level / 2.0)
    rc = float(np.clip(r, -1 + 1e-12, 1 - 1e-12))
    centre = math.atanh(rc)
    return (math.tanh(centre - z * se), math.tanh(centre + z * se))


def wilson_interval(successes: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927), no continuity correction:
    ``(p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)``, by statsmodels' ``proportion_confint``.
    """
    if n <= 0:
        return (math.nan, math.nan)
    low, high = proportion_confint(successes, n, alpha=1.0 - level, method="wilson")
    return (max(0.0, float(low)), min(1.0, float(high)))


def newcombe_risk_difference(
    successes1: float, n1: float, successes2: float, n2: float, *, level: float = 0.95
) -> EffectSize:
    """Risk difference p₁ − p₂ with Newcombe's hybrid Wilson score CI (method 10).

    ``L = D − √((p₁−l₁)² + (u₂−p₂)²)``, ``U = D + √((u₁−p₁)² + (p₂−l₂)²)`` where ``(lᵢ, uᵢ)`` are
    the Wilson intervals of each proportion (Newcombe 1998; statsmodels'
    ``confint_proportions_2indep(method="newcomb")``).
    """
    if n1 <= 0 or n2 <= 0:
        return EffectSize(
            "risk_difference",
            math.nan,
            math.nan,
            math.nan,
            int(n1 + n2),
            level,
            "one group is empty",
        )
    low, high = confint_proportions_2indep(
        successes1, n1, successes2, n2, method="newcomb", compare="diff", alpha=1.0 - level
    )
    diff = successes1 / n1 - successes2 / n2
    return EffectSize("risk_difference", diff, float(low), float(high), int(n1 + n2), level)


def cohens_h(p1: float, n1: float, p2: float, n2: float, *, level: float = 0.95) -> EffectSize:
    """Cohen's h = 2·asin√p₁ − 2·asin√p₂; CI h ± z·√(1/n₁ + 1/n₂) (arcsine is variance-stable)."""
    if n1 <= 0 or n2 <= 0:
        return EffectSize(
            "cohens_h", math.nan, math.nan, math.nan, int(n1 + n2), level, "one group is empty"
        )
    h = 2.0 * math.asin(math.sqrt(p1)) - 2.0 * math.asin(math.sqrt(p2))
    half = float(stats.norm.ppf(0.5 + level / 2.0)) * math.sqrt(1.0 / n1 + 1.0 / n2)
    return EffectSize("cohens_h", h, h - half, h + half, int(n1 + n2), level)


def eta2_ci_from_f(f: float, df1: float, df2: float, level: float = 0.95) -> tuple[float, float]:
    """CI for the population (partial) proportion of variance from an observed F.

    Inverts the noncentral F: λ bounds solve ``F_{df1,df2,λ}(f) = (1 ± level)/2`` (λ ≥ 0, a
    bound is 0 when the observed F is too small), then ``η² = λ / (λ + df1 + df2 + 1)``
    (Steiger 2004; as ``effectsize::F_to_eta2``, two-sided).
    """
    if not (np.isfinite(f) and df1 > 0 and df2 > 0):
        return (math.nan, math.nan)
    alpha = 1.0 - level

    def bound(q: float) -> float:
        def g(lam: float) -> float:
            return float(stats.ncf.cdf(f, df1, df2, lam)) - q

        if g(0.0) <= 0:  # even λ = 0 puts f below the quantile
            return 0.0
        hi = max(10.0, f * df1 * 2.0)
        while g(hi) > 0:
            hi *= 2.0
            if hi > 1e9:
                raise ValueError("could not bracket the noncentrality parameter")
        return float(optimize.brentq(g, 0.0, hi, xtol=1e-10, rtol=1e-12, maxiter=500))

    lam_low = bound(1.0 - alpha / 2.0)
    lam_high = bound(alpha / 2.0)
    denom = df1 + df2 + 1.0
    return (lam_low / (lam_low + denom), lam_high / (lam_high + denom))


def partial_eta_squared(f: float, df1: float, df2: float, *, level: float = 0.95) -> EffectSize:
    """Partial η² = F·df1 / (F·df1 + df2), with the noncentral-F CI."""
    if not (np.isfinite(f) and df2 > 0):
        return EffectSize(
            "partial_eta2",
            math.nan,
            math.nan,
            math.nan,
            int(df1 + df2 + 1),
            level,
            "F is undefined (no residual variance or degrees of freedom)",
        )
    est = f * df1 / (f * df1 + df2)
    low, high = eta2_ci_from_f(f, df1, df2, level)
    return EffectSize("partial_eta2", est, low, high, int(df1 + df2 + 1), level)


def partial_omega_squared(f: float, df1: float, df2: float, *, level: float = 0.95) -> EffectSize:
    """Partial ω² = (F − 1)·df1 / (F·df1 + df2 + 1), truncated at 0; CI as partial η²'s.

    The point estimate is the less biased one (Olejnik & Algina 2003); the interval is the
    noncentral-F interval for the population proportion of variance, as ``effectsize`` reports.
    """
    if not (np.isfinite(f) and df2 > 0):
        return EffectSize(
            "partial_omega2",
            math.nan,
            math.nan,
            math.nan,
            int(df1 + df2 + 1),
            level,
            "F is undefined (no residual variance or degrees of freedom)",
        )
    raw = (f - 1.0) * df1 / (f * df1 + df2 + 1.0)
    low, high = eta2_ci_from_f(f, df1, df2, level)
    note = "negative estimate truncated at 0" if raw < 0 else ""
    return EffectSize("partial_omega2", max(0.0, raw), low, high, int(df1 + df2 + 1), level, note)
