"""Profile-likelihood intervals of the logistic mixed model's fixed effects."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats
from scipy.special import expit

import analysis
from analysis import synthetic
from analysis.mixed import fit_glmm_binomial
from analysis.mixed.profile import profile_intervals_binomial


def test_without_random_effects_it_is_the_likelihood_ratio_interval():
    rng = np.random.default_rng(1)
    n = 60
    g = (np.arange(n) % 2).astype(float)
    y = (rng.random(n) < expit(-0.3 + 1.0 * g)).astype(float)
    x = np.column_stack([np.ones(n), g])
    names = ["(Intercept)", "g"]
    fit = fit_glmm_binomial(y, x, {}, fixed_names=names)
    ci = profile_intervals_binomial(y, x, {}, fixed_names=names, fit=fit)

    def ll(b0: float, b1: float) -> float:
        eta = b0 + b1 * g
        return float(np.sum(y * eta - np.log1p(np.exp(eta))))

    best, cut = ll(*fit.fixed), stats.chi2.ppf(0.95, 1) / 2
    slope = [
        optimize.brentq(
            lambda b: best + optimize.minimize_scalar(lambda a: -ll(a, b)).fun - cut, lo, hi
        )
        for lo, hi in ((fit.fixed[1] - 3, fit.fixed[1]), (fit.fixed[1], fit.fixed[1] + 3))
    ]
    assert ci[1] == pytest.approx(slope, abs=1e-4)
    # the intercept is the log odds of the g = 0 group alone: its LR interval for k/n
    k, m = int(y[g == 0].sum()), int((g == 0).sum())

    def ll0(a: float) -> float:
        return k * a - m * np.log1p(np.exp(a))

    top = ll0(np.log(k / (m - k)))
    lr = [
        optimize.brentq(lambda a: top - ll0(a) - cut, lo, hi)
        for lo, hi in ((fit.fixed[0] - 5, fit.fixed[0]), (fit.fixed[0], fit.fixed[0] + 5))
    ]
    assert ci[0] == pytest.approx(lr, abs=1e-4)
    assert not np.allclose(ci, fit.conf_int(), atol=1e-3)  # not the Wald interval
    with pytest.raises(ValueError, match="level must lie"):
        profile_intervals_binomial(y, x, {}, fixed_names=names, fit=fit, level=1.0)


def test_small_studies_get_profile_intervals_named_in_the_table():
    small = analysis.analyze(
        "gt_prediction",
        synthetic.gt_prediction_study(n_participants=24, n_items=10, seed=3),
        plots=False,
        n_boot=20,
        strict=True,
    ).results
    row = small[(small["analysis"] == "glmm_correct") & (small["term"] == "explanation")].iloc[0]
    assert "CI: profile likelihood (24 participants, fewer than 60)" in row["note"]
    odds = small[(small["analysis"] == "odds_ratio") & (small["term"] == "explanation")].iloc[0]
    assert odds["ci_low"] == pytest.approx(np.exp(row["ci_low"]))
    large = analysis.analyze(
        "gt_prediction",
        synthetic.gt_prediction_study(n_participants=60, n_items=6, seed=3),
        plots=False,
        n_boot=20,
        strict=True,
    ).results
    row = large[(large["analysis"] == "glmm_correct") & (large["term"] == "explanation")].iloc[0]
    assert "profile" not in row["note"]


def test_a_separated_profile_falls_back_to_wald_and_keeps_the_cells_and_their_plot():
    """Two participants, one of them always right: far along the profile the conditional modes
    do not converge. The fit's Wald interval stands (named in the note), the cells are
    estimated and the accuracy plot is drawn (a results page once showed no plot at all)."""
    data = synthetic.simulation_study(n_participants=2, n_items=6, seed=3)
    data["saliency_shown"] = 0
    data["scores_shown"] = (data["participant_id"] == data["participant_id"].iloc[0]).astype(int)
    out = analysis.analyze("simulation", data, plots=True, n_boot=20, strict=True)
    table = out.results
    glmm = table[(table["analysis"] == "glmm_correct") & (table["term"] == "scores")].iloc[0]
    assert (
        "profile-likelihood CI not computed (the conditional modes did not converge"
        in (glmm["note"])
    )
    assert np.isfinite(glmm["estimate"]) and np.isfinite(glmm["ci_low"])
    cells = table[table["analysis"] == "cell_accuracy"]
    assert cells["estimate"].notna().sum() == 2
    assert "accuracy_by_condition" in out.plots
