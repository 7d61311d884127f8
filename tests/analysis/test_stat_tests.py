"""Companion tests against scipy and their textbook definitions."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from analysis import stat_tests as st


def test_friedman_matches_scipy_with_ties_and_kendall_w():
    rng = np.random.default_rng(1)
    data = rng.integers(1, 6, (25, 4)).astype(float)
    res = st.friedman(data)
    ref = stats.friedmanchisquare(*data.T)
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.p == pytest.approx(ref.pvalue)
    assert res.df == 3
    assert res.effect is not None
    assert res.effect.estimate == pytest.approx(ref.statistic / (25 * 3))


def test_kendall_w_bootstrap_weights_match_resampled_rows():
    rng = np.random.default_rng(2)
    ranks = np.apply_along_axis(stats.rankdata, 1, rng.integers(1, 4, (10, 3)))
    idx = rng.integers(0, 10, 10)
    weights = np.bincount(idx, minlength=10)[None, :]
    assert st.kendall_w_matrix(ranks, weights)[0] == pytest.approx(
        float(st.kendall_w_matrix(ranks[idx]))
    )


def test_friedman_all_tied_has_a_note():
    res = st.friedman(np.ones((5, 3)))
    assert math.isnan(res.statistic) and "tied" in res.note


def test_wilcoxon_reports_v_like_r():
    x = np.array([1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30])
    y = np.array([0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29])
    res = st.wilcoxon_signed_rank(x, y)  # R: V = 40, p-value = 0.03906
    assert res.statistic == 40
    assert res.p == pytest.approx(0.03906, abs=1e-5)
    assert res.effect is not None and res.effect.estimate == pytest.approx((40 - 5) / 45)


def test_welch_matches_scipy():
    rng = np.random.default_rng(3)
    x, y = rng.normal(0.6, 1, 20), rng.normal(0, 2, 31)
    res = st.welch_t(x, y)
    ref = stats.ttest_ind(x, y, equal_var=False)
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.p == pytest.approx(ref.pvalue)
    assert res.df == pytest.approx(ref.df)
    assert res.effect is not None and res.effect.name == "hedges_g"


def test_mann_whitney_and_kruskal_match_scipy():
    rng = np.random.default_rng(4)
    x, y, z = rng.integers(1, 6, 14), rng.integers(2, 7, 17), rng.integers(1, 5, 9)
    mw = st.mann_whitney(x, y)
    ref = stats.mannwhitneyu(x, y, alternative="two-sided")
    assert (mw.statistic, mw.p) == pytest.approx((ref.statistic, ref.pvalue))
    assert mw.effect is not None
    assert mw.effect.estimate == pytest.approx(2 * ref.statistic / (14 * 17) - 1)
    kw = st.kruskal_wallis([x, y, z])
    ref_kw = stats.kruskal(x, y, z)
    assert (kw.statistic, kw.p) == pytest.approx((ref_kw.statistic, ref_kw.pvalue))
    assert kw.effect is not None and kw.effect.estimate == pytest.approx(ref_kw.statistic / 39)


def test_binomial_and_one_sample_t():
    res = st.binomial_test(14, 20)
    assert res.p == pytest.approx(stats.binomtest(14, 20).pvalue)
    assert res.effect is not None and res.effect.estimate == 0.7
    t = st.one_sample_t([0.6, 0.7, 0.55, 0.8, 0.65], 0.5)
    ref = stats.ttest_1samp([0.6, 0.7, 0.55, 0.8, 0.65], 0.5)
    assert (t.statistic, t.p) == pytest.approx((ref.statistic, ref.pvalue))


def test_spearman_exact_permutation_p():
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    y = [2.0, 1.0, 4.0, 3.0, 5.0]
    res = st.spearman(x, y)
    rho = stats.spearmanr(x, y).statistic
    perms = [stats.spearmanr(x, p).statistic for p in itertools.permutations(y)]
    expected = np.mean(np.abs(perms) >= abs(rho) - 1e-12)
    assert res.statistic == pytest.approx(rho)
    assert res.p == pytest.approx(expected)
    big = st.spearman(np.arange(20.0), np.arange(20.0) ** 2 + np.sin(np.arange(20.0)) * 30)
    assert big.p == pytest.approx(
        stats.spearmanr(np.arange(20.0), np.arange(20.0) ** 2 + np.sin(np.arange(20.0)) * 30).pvalue
    )
    assert "at least 3" in st.spearman([1.0, 2.0], [2.0, 1.0]).note
    assert "constant" in st.spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]).note
