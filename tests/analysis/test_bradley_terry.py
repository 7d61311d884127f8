"""Bradley–Terry: Stigler's journal citations (BradleyTerry2) and choix's small case."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from analysis.bradley_terry import fit_bradley_terry, win_components

WINS = {
    ("Comm Statist", "Biometrika"): 33,
    ("JASA", "Biometrika"): 320,
    ("JRSS-B", "Biometrika"): 284,
    ("Biometrika", "Comm Statist"): 730,
    ("JASA", "Comm Statist"): 813,
    ("JRSS-B", "Comm Statist"): 276,
    ("Biometrika", "JASA"): 498,
    ("Comm Statist", "JASA"): 68,
    ("JRSS-B", "JASA"): 325,
    ("Biometrika", "JRSS-B"): 221,
    ("Comm Statist", "JRSS-B"): 17,
    ("JASA", "JRSS-B"): 142,
}


def _journals():
    pairs = sorted({tuple(sorted(k)) for k in WINS})
    first = [a for a, _ in pairs]
    second = [b for _, b in pairs]
    wins = [WINS[(a, b)] for a, b in pairs]
    trials = [WINS[(a, b)] + WINS[(b, a)] for a, b in pairs]
    return first, second, wins, trials


def test_journal_citations_reference():
    first, second, wins, trials = _journals()
    fit = fit_bradley_terry(
        first, second, wins, trials=trials, reference="Biometrika", position=False
    )
    est = dict(zip(fit.methods, fit.strengths, strict=True))
    se = dict(zip(fit.methods, fit.se, strict=True))
    assert est["Comm Statist"] == pytest.approx(-2.9490725, abs=1e-5)
    assert est["JASA"] == pytest.approx(-0.4795698, abs=1e-5)
    assert est["JRSS-B"] == pytest.approx(0.2689541, abs=1e-5)
    assert se["Comm Statist"] == pytest.approx(0.10254534, abs=1e-5)
    assert se["JASA"] == pytest.approx(0.06058873, abs=1e-5)
    assert se["JRSS-B"] == pytest.approx(0.07082997, abs=1e-5)
    assert fit.deviance == pytest.approx(4.293384, abs=1e-5)
    assert fit.df_residual == 3
    assert fit.converged


def test_binary_rows_give_the_same_strengths_as_counts():
    first, second, wins, trials = _journals()
    a, b, y = [], [], []
    for f, s, w, n in zip(first, second, wins, trials, strict=True):
        a += [f] * n
        b += [s] * n
        y += [1] * w + [0] * (n - w)
    fit = fit_bradley_terry(a, b, y, reference="Biometrika", position=False)
    assert fit.strengths[1] == pytest.approx(-2.9490725, abs=1e-5)


def test_choix_case_centred_strengths():
    winners, losers = zip(*[(0, 1), (0, 1), (1, 2), (2, 0)], strict=True)
    fit = fit_bradley_terry(
        [str(w) for w in winners], [str(v) for v in losers], [1, 1, 1, 1], position=False
    )
    assert fit.centred() == pytest.approx([0.419618, -0.419618, 0.0], abs=1e-5)


def test_clustered_covariance_matches_statsmodels_sandwich():
    rng = np.random.default_rng(2)
    methods = ["a", "b", "c"]
    n = 600
    first = rng.choice(methods, n)
    second = np.array([rng.choice([m for m in methods if m != f]) for f in first])
    lam = {"a": 0.0, "b": 0.5, "c": -0.3}
    eta = 0.2 + np.array([lam[f] - lam[s] for f, s in zip(first, second, strict=True)])
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    clusters = np.repeat(np.arange(30), 20)
    fit = fit_bradley_terry(first, second, y, reference="a", clusters=clusters)
    x = np.column_stack(
        [(first == m).astype(float) - (second == m).astype(float) for m in ("b", "c")]
        + [np.ones(n)]
    )
    glm = sm.GLM(y, x, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": clusters, "use_correction": False}
    )
    g = 30
    assert fit.strengths[1:] == pytest.approx(glm.params[:2], abs=1e-8)
    assert fit.position == pytest.approx(glm.params[2], abs=1e-8)
    assert fit.cov == pytest.approx(glm.cov_params() * g / (g - 1), rel=1e-6)


def test_win_components_find_methods_without_finite_strength():
    comps = win_components(["a", "b", "c", "d"], ["a", "b", "a", "c"], ["b", "a", "c", "d"])
    assert comps[0] == ["a", "b"]
    assert sorted(map(tuple, comps[1:])) == [("c",), ("d",)]
    assert win_components(["x", "y"], ["x", "y"], ["y", "x"]) == [["x", "y"]]
