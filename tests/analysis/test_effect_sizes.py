"""Effect sizes against the reference values of STATISTICS.md (tolerance 1e-4)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import effect_sizes as es

A = [3.2, 6.4, 1.8, 2.4, 5.8, 6.5]
B = [2.4, 3.2, 3.2, 1.4, 2.8, 3.5]
MOON = [1.73, 1.06, 2.03, 1.40, 0.95, 1.13, 1.41, 1.73, 1.63, 1.56]
TOL = 1e-4


def _close(effect: es.EffectSize, estimate: float, low: float, high: float, tol: float = TOL):
    assert effect.estimate == pytest.approx(estimate, abs=tol)
    assert effect.ci_low == pytest.approx(low, abs=tol)
    assert effect.ci_high == pytest.approx(high, abs=tol)


def test_cohens_d_and_hedges_g_exact_ci_small_example():
    _close(es.cohens_d(A, B), 1.002549, -0.230781, 2.192835)
    _close(es.hedges_g(A, B), 0.925097, -0.212953, 2.023428)


@pytest.fixture(scope="module")
def mtcars(reference_data_dir) -> pd.DataFrame:
    return pd.read_csv(reference_data_dir / "mtcars.csv")


def test_mtcars_wt_by_am(mtcars):
    manual, auto = mtcars.loc[mtcars.am == 0, "wt"], mtcars.loc[mtcars.am == 1, "wt"]
    _close(es.cohens_d(manual, auto), 1.892406, 1.030022, 2.732922)
    _close(es.hedges_g(manual, auto), 1.844631, 1.004019, 2.663927)


def test_mtcars_mpg_by_am(mtcars):
    _close(
        es.cohens_d(mtcars.loc[mtcars.am == 0, "mpg"], mtcars.loc[mtcars.am == 1, "mpg"]),
        -1.477947,
        -2.265973,
        -0.670569,
    )


def test_one_sample_moon():
    _close(es.cohens_d_one_sample(MOON, 1.0), 1.359018, 0.465594, 2.216010)


def test_from_summary_statistics():
    d = es.cohens_d_from_summary(24, 148.87, 35, 16.5, 139.16, 29)
    assert d.estimate == pytest.approx(0.6240, abs=TOL)
    # the reference CI is given to 3 decimals
    assert d.ci_low == pytest.approx(0.117, abs=5e-4)
    assert d.ci_high == pytest.approx(1.126, abs=5e-4)
    g = es.hedges_g_from_summary(24, 148.87, 35, 16.5, 139.16, 29)
    assert g.estimate == pytest.approx(d.estimate * es.hedges_correction(62), rel=1e-12)


def test_exact_ci_inverts_the_noncentral_t():
    d = es.cohens_d(A, B)
    scale = math.sqrt(1 / 6 + 1 / 6)
    t = d.estimate / scale
    assert stats.nct.cdf(t, 10, d.ci_low / scale) == pytest.approx(0.975, abs=1e-9)
    assert stats.nct.cdf(t, 10, d.ci_high / scale) == pytest.approx(0.025, abs=1e-9)


def test_hedges_correction_exact_and_large_df():
    assert es.hedges_correction(10) == pytest.approx(
        math.gamma(5) / (math.sqrt(5) * math.gamma(4.5)), rel=1e-12
    )
    assert es.hedges_correction(1e6) == pytest.approx(1 - 3 / (4 * 1e6 - 1), rel=1e-9)
    assert math.isnan(es.hedges_correction(1))


def test_paired_dz_is_one_sample_d_of_differences():
    dz = es.cohens_d_paired(A, B)
    one = es.cohens_d_one_sample(np.subtract(A, B), 0.0)
    assert dz.name == "cohens_dz"
    assert (dz.estimate, dz.ci_low, dz.ci_high) == (one.estimate, one.ci_low, one.ci_high)


def test_degenerate_inputs_give_nan_with_a_note():
    for effect in (
        es.cohens_d([1, 1, 1], [1, 1, 1]),
        es.cohens_d([1], [2, 3]),
        es.cohens_d_one_sample([2, 2, 2], 1.0),
        es.rank_biserial_paired([1, 2], [1, 2]),
    ):
        assert math.isnan(effect.estimate)
        assert effect.note


def test_rank_biserial_paired_matches_its_definition():
    x = np.array([5.0, 3, 4, 6, 2, 7, 4])
    y = np.array([3.0, 3, 5, 2, 1, 4, 2])
    diff = (x - y)[(x - y) != 0]
    ranks = stats.rankdata(np.abs(diff))
    expected = (ranks[diff > 0].sum() - ranks[diff < 0].sum()) / ranks.sum()
    r = es.rank_biserial_paired(x, y)
    assert r.estimate == pytest.approx(expected)
    assert r.n == diff.size
    assert -1 < r.ci_low < r.estimate < r.ci_high < 1


def test_rank_biserial_independent_equals_cliffs_delta_by_brute_force():
    rng = np.random.default_rng(3)
    x, y = rng.integers(1, 6, 15).astype(float), rng.integers(1, 6, 11).astype(float)
    brute = np.mean(np.sign(x[:, None] - y[None, :]))
    assert es.cliffs_delta(x, y).estimate == pytest.approx(brute)
    assert es.rank_biserial_independent(x, y).estimate == pytest.approx(brute)


def test_newcombe_risk_difference_paper_example():
    # Newcombe (1998), Table II, 56/70 − 48/80, method 10: 0.0524 to 0.3339
    rd = es.newcombe_risk_difference(56, 70, 48, 80)
    _close(rd, 0.2, 0.0524, 0.3339, tol=5e-5)


def test_wilson_interval_known_value():
    # Wilson interval for 81/263 (Brown, Cai & DasGupta 2001 style check via the formula)
    low, high = es.wilson_interval(81, 263)
    p, n, z = 81 / 263, 263, stats.norm.ppf(0.975)
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    assert (low, high) == pytest.approx((centre - half, centre + half))
    assert es.wilson_interval(0, 10)[0] == 0.0


def test_cohens_h():
    h = es.cohens_h(0.65, 100, 0.5, 100)
    assert h.estimate == pytest.approx(0.3046927, abs=1e-6)
    assert h.ci_high - h.estimate == pytest.approx(1.959964 * math.sqrt(0.02), abs=1e-5)


def test_partial_eta_and_omega_squared_noncentral_f_ci():
    f, df1, df2 = 5.0, 1, 96
    eta = es.partial_eta_squared(f, df1, df2)
    assert eta.estimate == pytest.approx(5 / 101)
    omega = es.partial_omega_squared(f, df1, df2)
    assert omega.estimate == pytest.approx(4 / 102)
    lam_high = eta.ci_high * (df1 + df2 + 1) / (1 - eta.ci_high)
    assert stats.ncf.cdf(f, df1, df2, lam_high) == pytest.approx(0.025, abs=1e-8)
    assert eta.ci_low == 0.0  # λ = 0 already leaves F = 5 below the 97.5% quantile
    big = es.partial_eta_squared(40.0, 2, 60)
    lam_low = big.ci_low * (2 + 60 + 1) / (1 - big.ci_low)
    assert stats.ncf.cdf(40.0, 2, 60, lam_low) == pytest.approx(0.975, abs=1e-8)
    assert 0 < big.ci_low < big.estimate < big.ci_high < 1
    neg = es.partial_omega_squared(0.5, 1, 50)
    assert neg.estimate == 0.0 and "truncated" in neg.note
