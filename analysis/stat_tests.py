"""Classical tests used as companions to the mixed models.

Each function returns a :class:`TestResult` (statistic, df, two-sided p, the effect size with its
CI where the test has a conventional one, and a note for anything unusual).

- Friedman's χ² with the tie correction, Kendall's W = χ²_F / (n(k − 1)) (Kendall & Babington
  Smith 1939; Friedman 1937).
- Wilcoxon signed-rank (zeros dropped, ``scipy.stats.wilcoxon``), reported as V = T⁺ like R,
  with the matched-pairs rank-biserial r.
- Exact binomial test with the Wilson CI (Clopper–Pearson is more conservative; Wilson is
  closer to nominal, Brown, Cai & DasGupta 2001).
- Welch's t (Welch 1947) with Hedges' g (pooled SD) and its exact CI.
- Mann–Whitney U (R's W = U₁) with the rank-biserial r.
- Kruskal–Wallis H with ε² = H / (n − 1) (Tomczak & Tomczak 2014).
- One-sample t against a chance level, with one-sample d.
- Spearman's ρ with an exact permutation p for up to 8 paired values.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis.effect_sizes import (
    EffectSize,
    cohens_d_one_sample,
    hedges_g,
    rank_biserial_independent,
    rank_biserial_paired,
    wilson_interval,
)

__all__ = [
    "TestResult",
    "binomial_test",
    "friedman",
    "kendall_w_matrix",
    "kruskal_wallis",
    "mann_whitney",
    "one_sample_t",
    "spearman",
    "welch_t",
    "wilcoxon_signed_rank",
]

ArrayLike = Sequence[float] | np.ndarray
NAN = math.nan


@dataclass(frozen=True)
class TestResult:
    """A test's statistic, df and p-value, with its effect size (if any)."""

    statistic: float
    df: float
    p: float
    effect: EffectSize | None = None
    note: str = ""

    __test__ = False  # not a pytest test class


def _nan_effect(name: str, n: int, note: str) -> EffectSize:
    return EffectSize(name, NAN, NAN, NAN, n, 0.95, note)


def kendall_w_matrix(ranks: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Kendall's W (tie-corrected) from within-block ranks (n × k), optionally for many weightings.

    ``weights`` (B × n) gives bootstrap resamples as counts per block; returns shape (B,) then,
    else a 0-d array. ``W = 12·S / (m²(k³ − k) − m·Σ_blocks T)`` with S the sum of squared
    deviations of the rank sums and ``T = Σ(t³ − t)`` the tie correction of a block.
    """
    n, k = ranks.shape
    ties = np.zeros(n)
    for i in range(n):
        _, counts = np.unique(ranks[i], return_counts=True)
        ties[i] = float(np.sum(counts.astype(float) ** 3 - counts))
    w = np.ones((1, n)) if weights is None else np.atleast_2d(weights).astype(float)
    m = w.sum(axis=1)
    sums = w @ ranks  # B × k
    s = np.sum((sums - m[:, None] * (k + 1) / 2.0) ** 2, axis=1)
    denom = m**2 * (k**3 - k) - m * (w @ ties)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(denom > 0, 12.0 * s / denom, np.nan)
    return out if weights is not None else out[0]


def friedman(matrix: np.ndarray) -> TestResult:
    """Friedman's test on an n (blocks) × k (treatments) matrix without missing cells.

    ``χ²_F = n(k − 1)·W`` on k − 1 df, W tie-corrected (equals R's ``friedman.test``).
    The effect is Kendall's W (no CI here; the protocol bootstraps one).
    """
    data = np.asarray(matrix, dtype=float)
    n, k = data.shape
    if n < 2 or k < 2:
        return TestResult(
            NAN,
            NAN,
            NAN,
            _nan_effect("kendall_w", n, "needs ≥ 2 blocks and ≥ 2 treatments"),
            "too few blocks or treatments",
        )
    ranks = np.apply_along_axis(stats.rankdata, 1, data)
    w = float(kendall_w_matrix(ranks))
    if not np.isfinite(w):
        note = "all responses are tied within every participant: Friedman's test is undefined"
        return TestResult(NAN, k - 1, NAN, _nan_effect("kendall_w", n, note), note)
    chi2 = n * (k - 1) * w
    p = float(stats.chi2.sf(chi2, k - 1))
    return TestResult(chi2, k - 1, p, EffectSize("kendall_w", w, NAN, NAN, n))


def wilcoxon_signed_rank(x: ArrayLike, y: ArrayLike) -> TestResult:
    """Two-sided Wilcoxon signed-rank test of x − y; statistic V = T⁺ (as R), effect r_rb."""
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    effect = rank_biserial_paired(a, b)
    diff = a - b
    nonzero = diff[diff != 0]
    if nonzero.size == 0:
        return TestResult(NAN, NAN, NAN, effect, "all paired differences are zero")
    ranks = stats.rankdata(np.abs(nonzero))
    v = float(ranks[nonzero > 0].sum())
    p = float(stats.wilcoxon(a, b, zero_method="wilcox", alternative="two-sided").pvalue)
    zeros = diff.size - nonzero.size
    note = f"{zeros} zero differences dropped" if zeros else ""
    return TestResult(v, NAN, p, effect, note)


def binomial_test(successes: int, n: int, p0: float = 0.5) -> TestResult:
    """Exact two-sided binomial test; the effect is the proportion with its Wilson CI."""
    if n <= 0:
        return TestResult(NAN, NAN, NAN, _nan_effect("proportion", 0, "no trials"), "no trials")
    low, high = wilson_interval(successes, n)
    p = float(stats.binomtest(int(successes), int(n), p0).pvalue)
    return TestResult(
        float(successes), NAN, p, EffectSize("proportion", successes / n, low, high, int(n))
    )


def welch_t(x: ArrayLike, y: ArrayLike) -> TestResult:
    """Welch's t-test of mean(x) − mean(y); effect Hedges' g (pooled SD, exact CI)."""
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    effect = hedges_g(a, b)
    if a.size < 2 or b.size < 2:
        return TestResult(NAN, NAN, NAN, effect, "needs at least 2 participants per group")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    if va + vb <= 0:
        return TestResult(NAN, NAN, NAN, effect, "no variance in either group: t is undefined")
    t = float((a.mean() - b.mean()) / math.sqrt(va + vb))
    df = float((va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)))
    p = float(2.0 * stats.t.sf(abs(t), df))
    return TestResult(t, df, p, effect)


def mann_whitney(x: ArrayLike, y: ArrayLike) -> TestResult:
    """Two-sided Mann–Whitney U test; statistic U₁ (R's W), effect rank-biserial r."""
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    effect = rank_biserial_independent(a, b)
    if a.size == 0 or b.size == 0:
        return TestResult(NAN, NAN, NAN, effect, "one group is empty")
    if np.ptp(np.concatenate([a, b])) == 0:
        return TestResult(NAN, NAN, NAN, effect, "all values are equal: the test is undefined")
    res = stats.mannwhitneyu(a, b, alternative="two-sided")
    return TestResult(float(res.statistic), NAN, float(res.pvalue), effect)


def kruskal_wallis(groups: Sequence[ArrayLike]) -> TestResult:
    """Kruskal–Wallis H on k − 1 df; effect ε² = H / (n − 1) (no CI)."""
    arrays = [np.asarray(g, dtype=float) for g in groups]
    arrays = [g[np.isfinite(g)] for g in arrays if np.isfinite(g).any()]
    n = int(sum(g.size for g in arrays))
    if len(arrays) < 2:
        note = "needs at least 2 groups"
        return TestResult(NAN, NAN, NAN, _nan_effect("epsilon2", n, note), note)
    if np.ptp(np.concatenate(arrays)) == 0:
        note = "all values are equal: the test is undefined"
        return TestResult(NAN, NAN, NAN, _nan_effect("epsilon2", n, note), note)
    res = stats.kruskal(*arrays)
    h = float(res.statistic)
    return TestResult(
        h, len(arrays) - 1, float(res.pvalue), EffectSize("epsilon2", h / (n - 1), NAN, NAN, n)
    )


def one_sample_t(x: ArrayLike, mu: float) -> TestResult:
    """One-sample t-test against μ; effect one-sample Cohen's d with its exact CI."""
    a = np.asarray(x, dtype=float)
    a = a[np.isfinite(a)]
    effect = cohens_d_one_sample(a, mu)
    if a.size < 2:
        return TestResult(NAN, NAN, NAN, effect, "needs at least 2 participants")
    sd = a.std(ddof=1)
    if sd == 0:
        return TestResult(NAN, NAN, NAN, effect, "no variance: t is undefined")
    t = float((a.mean() - mu) / (sd / math.sqrt(a.size)))
    df = float(a.size - 1)
    return TestResult(t, df, float(2 * stats.t.sf(abs(t), df)), effect)


def spearman(x: ArrayLike, y: ArrayLike) -> TestResult:
    """Spearman's ρ with a two-sided p: exact by enumerating permutations for n ≤ 8, else the
    t approximation ``t = ρ√((n − 2)/(1 − ρ²))`` on n − 2 df (as R's ``cor.test`` for large n).
    """
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    n = a.size
    if n < 3:
        note = f"needs at least 3 paired values, got {n}"
        return TestResult(NAN, NAN, NAN, _nan_effect("spearman", n, note), note)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        note = "one of the variables is constant: the correlation is undefined"
        return TestResult(NAN, NAN, NAN, _nan_effect("spearman", n, note), note)
    ra, rb = stats.rankdata(a), stats.rankdata(b)
    rho = float(np.corrcoef(ra, rb)[0, 1])
    if n <= 8:
        perms = np.array(list(itertools.permutations(range(n))))
        rb_perm = rb[perms]
        rc = ra - ra.mean()
        num = (rb_perm - rb.mean()) @ rc
        den = math.sqrt(float(np.sum(rc**2)) * float(np.sum((rb - rb.mean()) ** 2)))
        null = num / den
        p = float(np.mean(np.abs(null) >= abs(rho) - 1e-12))
        return TestResult(
            rho, NAN, p, EffectSize("spearman", rho, NAN, NAN, n), "exact permutation p"
        )
    if abs(rho) >= 1:
        return TestResult(rho, n - 2, 0.0, EffectSize("spearman", rho, NAN, NAN, n))
    t = rho * math.sqrt((n - 2) / (1 - rho**2))
    return TestResult(
        rho, n - 2, float(2 * stats.t.sf(abs(t), n - 2)), EffectSize("spearman", rho, NAN, NAN, n)
    )
