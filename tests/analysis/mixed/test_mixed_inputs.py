"""Bad and degenerate inputs: a clear ValueError, or a result with notes — never NaN silently."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from analysis.mixed import MixedModelResult, fit_clmm, fit_glmm_binomial, fit_lmm
from analysis.mixed.simulate import crossed_design, simulate_binomial, simulate_ordinal

PART, ITEM = crossed_design(60, 20)
N = len(PART)
GROUPS = {"participant": PART, "item": ITEM}
RNG = np.random.default_rng(3)
X1 = RNG.normal(size=N)
X = np.column_stack([np.ones(N), X1])
COND = (PART % 2).astype(float)
Y = simulate_binomial(X, [0.2, 0.5], GROUPS, {"participant": 0.6, "item": 0.0}, RNG)
YO = simulate_ordinal(
    X1[:, None], [-1, 0, 1, 2], [0.5], GROUPS, {"participant": 0.5, "item": 0.5}, RNG
)


@pytest.fixture(autouse=True)
def _no_runtime_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


def _all_finite(r: MixedModelResult) -> None:
    for arr in (r.fixed, r.fixed_se, r.thresholds, r.threshold_se, r.conf_int()):
        assert np.all(np.isfinite(arr))
    assert np.isfinite(r.loglik) and all(np.isfinite(v) for v in r.variances.values())


def test_boundary_fit_reports_zero_variance_with_a_note():
    r = fit_glmm_binomial(Y, X, GROUPS, fixed_names=("i", "x"))  # true item variance 0
    assert r.variances["item"] == 0.0
    assert any("boundary" in n and "'item'" in n for n in r.notes)
    assert r.variances["participant"] > 0.1 and r.converged
    _all_finite(r)


def test_boundary_fit_clmm():
    y = simulate_ordinal(X1[:, None], [-1, 0, 1], [0.5], {"p": PART}, {"p": 0.0}, RNG)
    r = fit_clmm(y, X1[:, None], {"p": PART}, fixed_names=("x",))
    assert r.variances["p"] == 0.0 and any("boundary" in n for n in r.notes)
    _all_finite(r)


def test_variance_stuck_at_zero_is_escaped():
    """σ = 0 is a stationary point of the Laplace likelihood; a real variance is still found."""
    y = Y.copy()
    y[COND == 1] = 1  # separation pushes the start towards σ = 0
    r = fit_glmm_binomial(y, np.column_stack([np.ones(N), COND]), GROUPS, fixed_names=("i", "c"))
    assert r.variances["participant"] > 0.05


def test_single_level_factor_raises():
    with pytest.raises(ValueError, match="'session' has a single level"):
        fit_glmm_binomial(Y, X, {"session": np.zeros(N)}, fixed_names=("i", "x"))
    with pytest.raises(ValueError, match="single level"):
        fit_clmm(YO, X1[:, None], {"session": ["a"] * N}, fixed_names=("x",))


@pytest.mark.parametrize("value, word", [(0.0, "no successes"), (1.0, "all successes")])
def test_constant_binary_outcome_raises(value, word):
    with pytest.raises(ValueError, match=word):
        fit_glmm_binomial(np.full(N, value), X, GROUPS, fixed_names=("i", "x"))


def test_constant_ordinal_outcome_raises():
    with pytest.raises(ValueError, match="constant"):
        fit_clmm(np.full(N, 2), X1[:, None], GROUPS, fixed_names=("x",))


def test_separation_gives_notes_not_a_crash():
    y = Y.copy()
    y[COND == 1] = 1
    r = fit_glmm_binomial(y, np.column_stack([np.ones(N), COND]), GROUPS, fixed_names=("i", "c"))
    assert any("quasi-complete separation" in n and "'c'" in n for n in r.notes)
    assert any("not trustworthy" in n for n in r.notes)
    assert np.isfinite(r.fixed).all() and abs(r.fixed[1]) > 10


def test_separation_clmm_gives_notes():
    y = YO.copy()
    y[COND == 1] = 4
    r = fit_clmm(y, COND[:, None], GROUPS, fixed_names=("c",))
    assert any("separation" in n for n in r.notes)
    if not np.all(np.isfinite(r.fixed_se)):  # a NaN SE always comes with its note
        assert any("standard errors" in n for n in r.notes)


def test_unobserved_categories_are_dropped_with_a_note():
    y = YO.copy()
    y[y == 2] = 1  # middle category never used
    r = fit_clmm(y, X1[:, None], GROUPS, fixed_names=("x",), n_categories=6)  # top 6 unused too
    assert r.threshold_names == ("1|2", "2|4", "4|5")
    assert any("'3', '6' never observed" in n for n in r.notes)
    _all_finite(r)
    labelled = fit_clmm(y, X1[:, None], GROUPS, fixed_names=("x",), category_labels="ABCDE")
    assert labelled.threshold_names == ("A|B", "B|D", "D|E")


def test_groups_constant_within_levels_hit_the_upper_limit_with_a_note():
    y = (PART % 3 == 0).astype(float)
    r = fit_glmm_binomial(y, X, {"participant": PART}, fixed_names=("i", "x"))
    assert not r.converged or any("upper limit" in n for n in r.notes)
    assert any("upper limit" in n for n in r.notes)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"X": np.column_stack([X, 2 * X1]), "fixed_names": ("i", "x", "x2")}, "'x2' is a linear"),
        ({"X": np.where(np.arange(N)[:, None] == 5, np.nan, X)}, "missing or non-finite"),
        ({"y": Y[:-1]}, "rows but the outcome has"),
        ({"y": 2 * Y}, "must be 0/1"),
        ({"fixed_names": ("i",)}, "fixed_names has 1 names"),
        ({"fixed_names": ("i", "i")}, "must be unique"),
        ({"groups": {"participant": np.r_[PART[:-1], None]}}, "missing label"),
        ({"groups": {"participant": PART[:-1]}}, "labels for"),
        ({"X": np.zeros((N, 0)), "fixed_names": ()}, "no columns"),
        ({"trials": np.zeros(N)}, "positive integers"),
        ({"trials": np.ones(N), "y": 3 * Y}, "between 0 and trials"),
    ],
)
def test_bad_binomial_inputs_raise(kwargs, message):
    args = {"y": Y, "X": X, "groups": GROUPS, "fixed_names": ("i", "x"), "trials": None} | kwargs
    with pytest.raises(ValueError, match=message):
        fit_glmm_binomial(
            args["y"],
            args["X"],
            args["groups"],
            fixed_names=args["fixed_names"],
            trials=args["trials"],
        )


@pytest.mark.parametrize(
    "x, names, message",
    [
        (X, ("i", "x"), "'i' of X is constant"),
        (np.column_stack([COND, 1 - COND]), ("a", "b"), "add up to a constant"),
    ],
)
def test_clmm_rejects_an_intercept(x, names, message):
    with pytest.raises(ValueError, match=message):
        fit_clmm(YO, x, GROUPS, fixed_names=names)


def test_clmm_rejects_non_integer_codes_and_out_of_range():
    with pytest.raises(ValueError, match="integer category codes"):
        fit_clmm(YO + 0.5, X1[:, None], GROUPS, fixed_names=("x",))
    with pytest.raises(ValueError, match="n_categories is 3"):
        fit_clmm(YO, X1[:, None], GROUPS, fixed_names=("x",), n_categories=3)


def test_labels_of_any_hashable_type_and_three_factors():
    mixed = np.array([f"p{v}" if v % 2 else v for v in PART], dtype=object)
    r = fit_glmm_binomial(Y, X, {"participant": mixed}, fixed_names=("i", "x"))
    assert r.n_groups == {"participant": 60}
    assert set(r.group_levels["participant"]) == set(mixed.tolist())
    assert r.random_effects["participant"].shape == (60,)
    r3 = fit_glmm_binomial(
        Y, X, {"participant": PART, "item": ITEM, "block": PART % 5}, fixed_names=("i", "x")
    )
    assert list(r3.variances) == ["participant", "item", "block"]
    np.testing.assert_allclose(r3.variances["participant"], r.variances["participant"], rtol=0.3)


def test_tiny_data_and_no_predictors():
    r = fit_glmm_binomial(
        [0, 1, 1, 0, 1, 1], np.ones((6, 1)), {"g": [1, 1, 1, 2, 2, 2]}, fixed_names=("(Intercept)",)
    )
    _all_finite(r)
    c = fit_clmm(YO, np.zeros((N, 0)), GROUPS, fixed_names=())
    assert c.fixed.shape == (0,) and c.conf_int().shape == (0, 2) and len(c.thresholds) == 4


def test_predict_proba():
    r = fit_clmm(YO, X1[:, None], GROUPS, fixed_names=("x",))
    probs = r.predict_proba(np.array([[0.0], [1.0]]))
    assert probs.shape == (2, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    g = fit_glmm_binomial(Y, X, GROUPS, fixed_names=("i", "x"))
    assert g.predict_proba(np.array([[1.0, 0.0]]))[0] == pytest.approx(
        1 / (1 + np.exp(-g.fixed[0]))
    )
    with pytest.raises(ValueError, match="confidence level"):
        g.conf_int(1.5)


def test_lmm_bad_inputs():
    y = RNG.normal(size=N)
    with pytest.raises(ValueError, match="single level"):
        fit_lmm(y, X, np.zeros(N), fixed_names=("i", "x"))
    with pytest.raises(ValueError, match="constant"):
        fit_lmm(np.ones(N), X, PART, fixed_names=("i", "x"))
    r = fit_lmm(y, X, PART, fixed_names=("i", "x"))  # no participant variance in y
    assert r.variances["(Intercept)"] >= 0 and np.isfinite(r.fixed_se).all()
