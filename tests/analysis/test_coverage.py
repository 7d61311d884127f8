"""Simulated studies with known effects: estimates unbiased, 95% CIs cover about 95%.

Bounded run time: a fixed number of replications (fixed seeds) with plots off and few bootstrap
resamples. Tolerances: coverage is a binomial share; with R replications × T terms its Monte-Carlo
SE is about √(0.95·0.05/(R·T)) ≈ 0.01. Wald intervals of Laplace-ML mixed models are known to be
slightly liberal in moderate samples (the variance components are biased low; Bolker et al.
2009, TREE 24:127), so the pooled coverage must lie in [0.90, 0.99] and every term's in
[0.85, 1].
"""

from __future__ import annotations

import numpy as np
import pytest

import analysis
from analysis import synthetic


def _collect(protocol, make, truth, analyses, reps):
    est = {k: [] for k in truth}
    cover = {k: [] for k in truth}
    for rep in range(reps):
        res = analysis.analyze(protocol, make(rep), plots=False, n_boot=20, strict=True).results
        for (name, term), value in truth.items():
            row = res[(res["analysis"] == name) & (res["term"] == term)].iloc[0]
            est[(name, term)].append(row["estimate"])
            cover[(name, term)].append(row["ci_low"] <= value <= row["ci_high"])
    return {k: np.array(v) for k, v in est.items()}, {k: np.array(v) for k, v in cover.items()}


def _check(truth, est, cover, reps, low=0.90):
    all_cover = np.concatenate(list(cover.values()))
    assert low <= all_cover.mean() <= 0.99, {k: v.mean() for k, v in cover.items()}
    for key, value in truth.items():
        e = est[key]
        assert np.isfinite(e).all()
        mc_se = e.std(ddof=1) / np.sqrt(reps)
        assert abs(e.mean() - value) < 3.5 * mc_se + 0.05, (key, e.mean(), value)
        assert cover[key].mean() >= 0.85, (key, cover[key].mean())


@pytest.mark.slow
def test_simulation_protocol_glmm_is_unbiased_and_covers():
    truth_glmm = {"intercept": 0.4, "saliency": 0.6, "scores": 0.3, "interaction": 0.0}
    reps = 80

    def make(rep):
        return synthetic.simulation_study(
            n_participants=80,
            n_items=24,
            intercept=truth_glmm["intercept"],
            saliency=truth_glmm["saliency"],
            scores=truth_glmm["scores"],
            interaction=truth_glmm["interaction"],
            sd_participant=0.5,
            sd_item=0.5,
            seed=1000 + rep,
        )

    truth = {
        ("glmm_correct", "saliency"): 0.6,
        ("glmm_correct", "scores"): 0.3,
        ("glmm_correct", "saliency:scores"): 0.0,
        ("clmm_confidence", "correct"): 0.8,
        ("clmm_confidence", "saliency"): 0.3,
    }
    est, cover = _collect("simulation", make, truth, None, reps)
    _check(truth, est, cover, reps)


@pytest.mark.slow
def test_likert_protocol_clmm_is_unbiased_and_covers():
    effects = {"gradcam": 0.0, "rise": 0.5, "smoothgrad": -0.3}
    reps = 60

    def make(rep):
        return synthetic.likert_study(
            n_participants=40,
            n_items=18,
            method_effects=effects,
            sd_participant=0.7,
            sd_item=0.4,
            seed=2000 + rep,
        )

    truth = {("clmm", "method[rise]"): 0.5, ("clmm", "method[smoothgrad]"): -0.3}
    est, cover = _collect("likert", make, truth, None, reps)
    _check(truth, est, cover, reps)
