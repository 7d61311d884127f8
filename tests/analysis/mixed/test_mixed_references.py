"""The mixed models against the reference values of STATISTICS.md (R: ordinal, lme4).

Tolerances are those of STATISTICS.md: 1e-3 on coefficients (and thresholds), 2e-3 on variances;
SEs of ordinal::clmm are matched to 1e-4. lme4's glmer SEs for cbpp (0.2312, 0.3032, 0.3228,
0.4220) come from a finite-difference Hessian of a deviance evaluated with an inexact PIRLS
(default tolPwrss = 1e-7; see lme4 issue #998); the exact Laplace Hessian gives 0.2325, 0.3066,
0.3266, 0.4274 (the same convention: the fixed-effect block of the inverse Hessian over (β, σ)),
so they are matched to 2 % and the exact values are checked independently below.
"""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.miscmodels.ordinal_model import OrderedModel

from analysis.mixed import fit_clmm, fit_glmm_binomial, fit_lmm
from analysis.mixed.crossed import CrossedDesign
from analysis.mixed.families import Binomial
from analysis.mixed.laplace import LaplaceModel


def test_wine_clmm_matches_ordinal_clmm(wine):
    r = fit_clmm(wine["y"], wine["X"], wine["groups"], fixed_names=wine["names"])
    assert r.family == "cumulative_logit"
    assert r.converged and r.notes == ()
    np.testing.assert_allclose(r.fixed, [3.0630, 1.8349], atol=1e-3)
    np.testing.assert_allclose(r.fixed_se, [0.5954, 0.5125], atol=1e-4)
    assert r.threshold_names == ("1|2", "2|3", "3|4", "4|5")
    np.testing.assert_allclose(r.thresholds, [-1.6237, 1.5134, 4.2285, 6.0888], atol=1e-3)
    assert r.variances["judge"] == pytest.approx(1.279, abs=2e-3)
    assert r.loglik == pytest.approx(-81.56541, abs=1e-4)
    assert r.n_obs == 72 and r.n_groups == {"judge": 9}
    # exp(β) are cumulative odds ratios; Wald statistics are consistent with the SEs
    np.testing.assert_allclose(r.z_values(), r.fixed / r.fixed_se)
    assert np.all(r.p_values() < 0.001)


def test_wine_clm_matches_ordinal_clm(wine):
    r = fit_clmm(wine["y"], wine["X"], {}, fixed_names=wine["names"])
    assert r.converged and r.variances == {} and r.n_groups == {}
    np.testing.assert_allclose(r.fixed, [2.5031, 1.5278], atol=1e-3)
    np.testing.assert_allclose(r.thresholds, [-1.3444, 1.2508, 3.4669, 5.0064], atol=1e-3)
    assert r.loglik == pytest.approx(-86.49192, abs=1e-4)


def test_wine_clm_matches_statsmodels_ordered_model(wine):
    om = OrderedModel(wine["y"], wine["X"], distr="logit").fit(method="bfgs", disp=False)
    thresholds = om.model.transform_threshold_params(om.params)[1:-1]  # stored as increments
    r = fit_clmm(wine["y"], wine["X"], {}, fixed_names=wine["names"])
    np.testing.assert_allclose(r.fixed, om.params[:2], atol=1e-4)
    np.testing.assert_allclose(r.fixed_se, om.bse[:2], rtol=1e-3)
    np.testing.assert_allclose(r.thresholds, thresholds, atol=1e-4)
    assert r.loglik == pytest.approx(om.llf, abs=1e-5)


def test_cbpp_glmm_matches_lme4_glmer(cbpp):
    r = fit_glmm_binomial(
        cbpp["y"], cbpp["X"], cbpp["groups"], fixed_names=cbpp["names"], trials=cbpp["trials"]
    )
    assert r.family == "binomial" and r.converged and r.notes == ()
    assert r.thresholds.size == 0 and r.threshold_names == ()
    np.testing.assert_allclose(r.fixed, [-1.3983, -0.9919, -1.1282, -1.5797], atol=1e-3)
    assert r.variances["herd"] == pytest.approx(0.4123, abs=2e-3)
    # lme4's log-likelihood includes the log binomial coefficients
    assert r.loglik == pytest.approx(-92.03, abs=5e-3)
    np.testing.assert_allclose(r.fixed_se, [0.2312, 0.3032, 0.3228, 0.4220], rtol=0.02)
    np.testing.assert_allclose(r.fixed_se, [0.23247, 0.30664, 0.32664, 0.42744], atol=2e-5)


def test_cbpp_standard_errors_follow_the_lme4_convention(cbpp):
    """SE = fixed-effect block of the inverse of −Hessian over (β, σ), here recomputed from
    central second differences of the log-likelihood values (not of the gradient)."""
    r = fit_glmm_binomial(
        cbpp["y"], cbpp["X"], cbpp["groups"], fixed_names=cbpp["names"], trials=cbpp["trials"]
    )
    codes = np.unique(cbpp["groups"]["herd"], return_inverse=True)[1]
    model = LaplaceModel(
        Binomial(cbpp["y"].astype(float), cbpp["trials"].astype(float)),
        cbpp["X"],
        CrossedDesign([codes], [codes.max() + 1]),
    )
    theta = np.concatenate([r.fixed, [np.sqrt(r.variances["herd"])]])
    h, k = 1e-3, len(theta)
    eye = np.eye(k) * h
    hess = np.empty((k, k))
    for a in range(k):
        for b in range(k):
            hess[a, b] = (
                model.loglik(theta + eye[a] + eye[b])
                - model.loglik(theta + eye[a] - eye[b])
                - model.loglik(theta - eye[a] + eye[b])
                + model.loglik(theta - eye[a] - eye[b])
            ) / (4 * h * h)
    cov = np.linalg.inv(-hess)[:4, :4]
    np.testing.assert_allclose(r.fixed_se, np.sqrt(np.diag(cov)), rtol=1e-4)
    np.testing.assert_allclose(r.fixed_cov, cov, rtol=1e-3, atol=1e-6)


def test_glmm_without_groups_is_logistic_regression(cbpp):
    glm = sm.GLM(
        np.column_stack([cbpp["y"], cbpp["trials"] - cbpp["y"]]),
        cbpp["X"],
        family=sm.families.Binomial(),
    ).fit()
    r = fit_glmm_binomial(
        cbpp["y"], cbpp["X"], {}, fixed_names=cbpp["names"], trials=cbpp["trials"]
    )
    np.testing.assert_allclose(r.fixed, glm.params, atol=1e-6)
    np.testing.assert_allclose(r.fixed_se, glm.bse, rtol=1e-4)
    assert r.loglik == pytest.approx(glm.llf, abs=1e-6)


def test_sleepstudy_lmm_matches_lme4_lmer(sleepstudy):
    x = np.column_stack([np.ones(len(sleepstudy)), sleepstudy.Days])
    r = fit_lmm(
        sleepstudy.Reaction,
        x,
        sleepstudy.Subject,
        fixed_names=("(Intercept)", "Days"),
        random=x,
        random_names=("(Intercept)", "Days"),
    )
    assert r.converged and r.reml
    np.testing.assert_allclose(r.fixed, [251.405, 10.467], atol=1e-3)
    np.testing.assert_allclose(r.fixed_se, [6.825, 1.546], atol=1e-3)
    assert r.variances["(Intercept)"] == pytest.approx(612.10, abs=0.02)
    assert r.variances["Days"] == pytest.approx(35.07, abs=0.01)
    assert r.variances["Residual"] == pytest.approx(654.94, abs=0.02)
    assert r.residual_variance == r.variances["Residual"]
    assert r.random_cov.shape == (2, 2) and r.n_groups == 18
    assert r.loglik == pytest.approx(-871.8141, abs=1e-3)  # REML criterion 1743.628
    assert r.conf_int().shape == (2, 2) and np.all(r.p_values() < 1e-4)
