"""Parameter recovery and Wald-CI coverage on data simulated from the models themselves."""

from __future__ import annotations

import time

import numpy as np
import pytest

from analysis.mixed import fit_clmm, fit_glmm_binomial
from analysis.mixed.simulate import crossed_design, simulate_binomial, simulate_ordinal

BETA = np.array([0.3, 0.8, -0.4])  # intercept, between-participant condition, item-level covariate
THRESHOLDS = np.array([-1.5, -0.3, 0.6, 1.8])
VARIANCES = {"participant": 0.6, "item": 0.4}
# Wald z-intervals are slightly liberal for item-level terms with 40 items (≈ 0.94), and the
# intervals of one replication are correlated: the lower bound on the pooled coverage (0.88) is
# about the 0.1 % quantile. Seeds are fixed, so the tests are deterministic.
GLMM_REPLICATIONS = 100
CLMM_REPLICATIONS = 40


def _design(rng: np.random.Generator, n_participants: int, n_items: int):
    part, item = crossed_design(n_participants, n_items)
    condition = np.where(rng.permutation(n_participants) % 2 == 0, 0.5, -0.5)[part]
    covariate = rng.normal(size=n_items)[item]
    x = np.column_stack([np.ones(len(part)), condition, covariate])
    return x, {"participant": part, "item": item}


def test_glmm_recovers_parameters_and_ci_cover():
    covered, estimates, variances = [], [], []
    for rep in range(GLMM_REPLICATIONS):
        rng = np.random.default_rng(1000 + rep)
        x, groups = _design(rng, 200, 40)
        y = simulate_binomial(x, BETA, groups, VARIANCES, rng)
        r = fit_glmm_binomial(y, x, groups, fixed_names=("(Intercept)", "condition", "covariate"))
        assert r.converged, r.notes
        ci = r.conf_int()
        covered.append((ci[:, 0] <= BETA) & (ci[:, 1] >= BETA))
        estimates.append(r.fixed)
        variances.append([r.variances["participant"], r.variances["item"]])
    coverage = np.mean(covered)
    assert 0.88 <= coverage <= 0.99, coverage  # 300 intervals, nominal 0.95
    np.testing.assert_allclose(np.mean(estimates, axis=0), BETA, atol=0.04)
    np.testing.assert_allclose(np.mean(variances, axis=0), [0.6, 0.4], rtol=0.15)


def test_clmm_recovers_parameters_and_ci_cover():
    covered, estimates, thresholds, variances = [], [], [], []
    beta = BETA[1:]
    for rep in range(CLMM_REPLICATIONS):
        rng = np.random.default_rng(2000 + rep)
        x, groups = _design(rng, 200, 40)
        y = simulate_ordinal(x[:, 1:], THRESHOLDS, beta, groups, VARIANCES, rng)
        r = fit_clmm(y, x[:, 1:], groups, fixed_names=("condition", "covariate"))
        assert r.converged, r.notes
        ci = r.conf_int()
        covered.append((ci[:, 0] <= beta) & (beta <= ci[:, 1]))
        tci = r.threshold_conf_int()
        covered.append((tci[:, 0] <= THRESHOLDS) & (tci[:, 1] >= THRESHOLDS))
        estimates.append(r.fixed)
        thresholds.append(r.thresholds)
        variances.append([r.variances["participant"], r.variances["item"]])
    coverage = np.mean(np.concatenate(covered))
    assert 0.88 <= coverage <= 0.995, coverage  # 240 intervals, nominal 0.95
    np.testing.assert_allclose(np.mean(estimates, axis=0), beta, atol=0.06)
    np.testing.assert_allclose(np.mean(thresholds, axis=0), THRESHOLDS, atol=0.08)
    np.testing.assert_allclose(np.mean(variances, axis=0), [0.6, 0.4], rtol=0.15)


@pytest.mark.slow
def test_100k_responses_both_models_fit_and_recover_parameters():
    """1,000 participants × 100 items: the size of a full study; both models converge and recover
    the simulated parameters."""
    rng = np.random.default_rng(7)
    part, item = crossed_design(1000, 100)
    n = len(part)
    saliency = np.where(rng.permutation(1000) % 2 == 0, 0.5, -0.5)[part]
    scores = np.where(rng.permutation(1000) % 4 < 2, 0.5, -0.5)[part]
    x = np.column_stack([np.ones(n), saliency, scores, saliency * scores])
    groups = {"participant": part, "item": item}
    beta = np.array([0.5, 0.4, -0.3, 0.2])
    true_var = {"participant": 0.5, "item": 1.0}
    y = simulate_binomial(x, beta, groups, true_var, rng)
    t0 = time.perf_counter()
    g = fit_glmm_binomial(y, x, groups, fixed_names=("(Intercept)", "s", "c", "s:c"))
    t_glmm = time.perf_counter() - t0

    method = rng.integers(0, 4, n)
    xo = np.column_stack([(method == k).astype(float) for k in (1, 2, 3)])
    beta_o = np.array([0.3, 0.6, -0.4])
    thr = np.array([-2.0, -0.7, 0.3, 1.2, 2.5, 3.5])
    var_o = {"participant": 0.8, "item": 0.4}
    yo = simulate_ordinal(xo, thr, beta_o, groups, var_o, rng)
    t0 = time.perf_counter()
    c = fit_clmm(yo, xo, groups, fixed_names=("m1", "m2", "m3"), n_categories=7)
    t_clmm = time.perf_counter() - t0
    print(f"100k rows: glmm {t_glmm:.1f} s, clmm {t_clmm:.1f} s")

    assert g.converged and c.converged, (g.notes, c.notes)
    assert g.n_obs == c.n_obs == n and g.n_groups == {"participant": 1000, "item": 100}
    assert np.all(np.abs(g.fixed - beta) < 4 * g.fixed_se)
    assert np.all(np.abs(c.fixed - beta_o) < 4 * c.fixed_se)
    assert np.all(np.abs(c.thresholds - thr) < 4 * c.threshold_se)
    # variance SEs ≈ σ²·√(2/L) for L levels: ±20 % participants (L = 1000), ±50 % items (L = 100)
    assert g.variances["participant"] == pytest.approx(true_var["participant"], rel=0.2)
    assert g.variances["item"] == pytest.approx(true_var["item"], rel=0.5)
    assert c.variances["participant"] == pytest.approx(var_o["participant"], rel=0.2)
    assert c.variances["item"] == pytest.approx(var_o["item"], rel=0.5)
    # how fast they are is measured by bench/analysis_mixed.py, not asserted here
