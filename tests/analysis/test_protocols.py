"""Each protocol end to end: the stable analysis/term names, degenerate tables, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis import RESULT_COLUMNS, synthetic

METRICS = {
    "dauc": {"gradcam": 0.03, "rise": 0.02, "smoothgrad": 0.05},
    "iauc": {"gradcam": 0.40, "rise": 0.45, "smoothgrad": 0.30},
}


def _terms(result, name):
    rows = result.results[result.results["analysis"] == name]
    return list(rows["term"])


def _row(result, name, term):
    rows = result.results[(result.results["analysis"] == name) & (result.results["term"] == term)]
    assert len(rows) == 1, f"{name}/{term}: {len(rows)} rows"
    return rows.iloc[0]


def _no_silent_nan(result):
    df = result.results
    assert list(df.columns) == list(RESULT_COLUMNS)
    silent = df[df["estimate"].isna() & (df["note"].str.strip() == "")]
    assert silent.empty, silent
    for col in ("estimate", "ci_low", "ci_high", "statistic", "df", "p", "p_adjusted", "n"):
        assert df[col].dtype == float
    assert ((df["p"].dropna() >= 0) & (df["p"].dropna() <= 1)).all()
    has_p = df["p"].notna()
    assert df.loc[has_p, "p_adjusted"].notna().all()
    assert (df.loc[has_p, "p_adjusted"] >= df.loc[has_p, "p"] - 1e-15).all()


@pytest.fixture(scope="module")
def likert_result():
    return analysis.analyze(
        "likert", synthetic.likert_study(seed=3), metrics=METRICS, seed=1, n_boot=300, strict=True
    )


def test_likert_names(likert_result):
    r = likert_result
    _no_silent_nan(r)
    assert _terms(r, "clmm")[:2] == ["method[rise]", "method[smoothgrad]"]
    assert {"threshold[1|2]", "threshold[4|5]", "var(participant)", "var(item)"} <= set(
        _terms(r, "clmm")
    )
    assert _terms(r, "clmm_odds_ratio") == ["method[rise]", "method[smoothgrad]"]
    assert _terms(r, "friedman") == ["method"] and _terms(r, "kendall_w") == ["method"]
    assert _terms(r, "wilcoxon") == [
        "gradcam vs rise",
        "gradcam vs smoothgrad",
        "rise vs smoothgrad",
    ]
    assert _terms(r, "krippendorff_alpha") == ["ordinal"]
    assert sorted(_terms(r, "human_vs_metric")) == ["dauc", "iauc"]
    rise = _row(r, "clmm", "method[rise]")
    assert rise["ci_low"] < 0.5 < rise["ci_high"]  # the true effect
    assert _row(r, "wilcoxon", "gradcam vs rise")["estimate"] < 0
    assert {"likert_ratings", "clmm_forest", "human_vs_dauc"} <= set(r.plots)
    # Holm within the pairwise Wilcoxon family
    w = r.results[r.results["analysis"] == "wilcoxon"]
    p = np.sort(w["p"].to_numpy())
    assert w["p_adjusted"].min() == pytest.approx(min(1.0, 3 * p[0]))
    # BH across the metrics
    assert "Spearman" in _row(r, "human_vs_metric", "dauc")["note"]


def test_likert_between_subjects_uses_kruskal_and_mann_whitney():
    table = synthetic.likert_study(n_participants=45, n_items=10, seed=2)
    table["method"] = np.array(["gradcam", "rise", "smoothgrad"])[
        table["participant_id"].str[1:].astype(int) % 3
    ]
    r = analysis.analyze("likert", table, plots=False, n_boot=100, strict=True)
    _no_silent_nan(r)
    assert _terms(r, "kruskal_wallis") == ["method"]
    assert len(_terms(r, "mann_whitney")) == 3
    assert "friedman" not in set(r.results["analysis"])


@pytest.fixture(scope="module")
def preference_result():
    return analysis.analyze(
        "preference", synthetic.preference_study(seed=4), metrics=METRICS, n_boot=300, strict=True
    )


def test_preference_names(preference_result):
    r = preference_result
    _no_silent_nan(r)
    assert _terms(r, "win_rate") == ["gradcam", "rise", "smoothgrad"]
    assert _terms(r, "bradley_terry") == ["gradcam", "rise", "smoothgrad"]
    assert _row(r, "bradley_terry", "gradcam")["estimate"] == 0.0
    assert "reference" in _row(r, "bradley_terry", "gradcam")["note"]
    assert _terms(r, "position_bias") == ["first"]
    assert _terms(r, "pair_binomial") == [
        "gradcam vs rise",
        "gradcam vs smoothgrad",
        "rise vs smoothgrad",
    ]
    rise = _row(r, "bradley_terry", "rise")
    assert rise["ci_low"] < 0.6 < rise["ci_high"]
    first = _row(r, "position_bias", "first")
    assert first["ci_low"] < 0.2 < first["ci_high"]
    win = _row(r, "win_rate", "rise")
    assert win["ci_low"] < win["estimate"] < win["ci_high"]
    assert {"win_matrix", "bradley_terry_forest"} <= set(r.plots)


@pytest.fixture(scope="module")
def simulation_result():
    return analysis.analyze(
        "simulation", synthetic.simulation_study(seed=5), n_boot=200, strict=True
    )


def test_simulation_names(simulation_result):
    r = simulation_result
    _no_silent_nan(r)
    effects = ["(Intercept)", "saliency", "scores", "saliency:scores"]
    assert _terms(r, "glmm_correct") == [*effects, "var(participant)", "var(item)"]
    assert _terms(r, "odds_ratio") == effects
    conf = _terms(r, "clmm_confidence")
    assert conf[:4] == ["saliency", "scores", "correct", "saliency:scores"]
    assert {"threshold[1|2]", "var(participant)", "var(item)"} <= set(conf)
    assert _terms(r, "cell_accuracy") == [
        "saliency=0,scores=0",
        "saliency=1,scores=0",
        "saliency=0,scores=1",
        "saliency=1,scores=1",
    ]
    assert set(_terms(r, "anova_accuracy")) == {
        f"{k}[{t}]"
        for k in ("partial_eta2", "partial_omega2")
        for t in ("saliency", "scores", "saliency:scores")
    }
    assert _terms(r, "hedges_g") == ["saliency", "scores"]
    assert "all" in _terms(r, "accuracy_vs_chance")
    sal = _row(r, "glmm_correct", "saliency")
    odds = _row(r, "odds_ratio", "saliency")
    assert odds["estimate"] == pytest.approx(np.exp(sal["estimate"]))
    assert odds["p_adjusted"] == sal["p_adjusted"]
    # intercept is not in the Holm family of the three effects
    assert (
        _row(r, "glmm_correct", "(Intercept)")["p_adjusted"]
        == _row(r, "glmm_correct", "(Intercept)")["p"]
    )
    eta = _row(r, "anova_accuracy", "partial_eta2[saliency]")
    omega = _row(r, "anova_accuracy", "partial_omega2[saliency]")
    assert eta["statistic"] == omega["statistic"] and eta["estimate"] >= omega["estimate"]
    assert "accuracy_by_condition" in r.plots


def _clmm_notes(result) -> str:
    rows = result.results[result.results["analysis"] == "clmm"]
    return " ".join(rows["note"].fillna(""))


def test_unused_scale_points_are_noted_only_for_real_gaps():
    from analysis.protocols.likert import unused_scale_points

    table = synthetic.likert_study(n_participants=16, n_items=6, seed=4)
    assert sorted(table["rating"].unique()) == [1, 2, 3, 4, 5]
    full = analysis.analyze("likert", table, plots=False, n_boot=20, strict=True)
    assert "never used" not in _clmm_notes(full)

    tens = table.assign(rating=table["rating"] * 10)  # a 10–50 scale, step 10: no gap
    r = analysis.analyze("likert", tens, plots=False, n_boot=20, strict=True)
    assert "never used" not in _clmm_notes(r)
    assert _terms(r, "clmm")[2:6] == [f"threshold[{k}|{k + 10}]" for k in (10, 20, 30, 40)]

    gap = table.assign(rating=table["rating"].replace({3: 2}))  # 1–5 with 3 never chosen
    r = analysis.analyze("likert", gap, plots=False, n_boot=20, strict=True)
    assert "scale points never used: 3;" in _clmm_notes(r)
    gap_tens = tens.assign(rating=tens["rating"].replace({30: 20}))
    r = analysis.analyze("likert", gap_tens, plots=False, n_boot=20, strict=True)
    assert "scale points never used: 30 (scale step 10" in _clmm_notes(r)

    assert unused_scale_points(np.array([1, 2, 4, 7])) == ([3.0, 5.0, 6.0], 1)
    assert unused_scale_points(np.array([0, 25, 50, 100])) == ([75.0], 25)
    assert unused_scale_points(np.array([-2, -1, 0, 1, 2])) == ([], 1)
    assert unused_scale_points(np.array([3])) == ([], 1)


def test_gt_prediction_names():
    r = analysis.analyze(
        "gt_prediction", synthetic.gt_prediction_study(seed=6), n_boot=200, strict=True
    )
    _no_silent_nan(r)
    assert _terms(r, "glmm_correct")[:2] == ["(Intercept)", "explanation"]
    assert _terms(r, "risk_difference") == ["explanation"]
    assert _terms(r, "cohens_h") == ["explanation"]
    assert _terms(r, "hedges_g") == ["explanation"]
    assert _terms(r, "clmm_confidence")[:3] == ["explanation", "correct", "explanation:correct"]
    rd = _row(r, "risk_difference", "explanation")
    assert rd["ci_low"] < rd["estimate"] < rd["ci_high"]


def test_gt_prediction_with_methods_and_within_subjects():
    table = synthetic.gt_prediction_study(n_participants=30, n_items=12, seed=7)
    table["method"] = np.where(table["explanation_shown"] == 1, "gradcam", "none")
    methods = table.drop(columns=["explanation_shown"])
    r = analysis.analyze(
        "gt_prediction", methods, plots=False, n_boot=100, strict=True, reference="none"
    )
    _no_silent_nan(r)
    assert _terms(r, "glmm_correct")[:2] == ["(Intercept)", "method[gradcam]"]
    assert _terms(r, "risk_difference") == ["gradcam vs none"]
    within = table.copy()
    within["explanation_shown"] = (within["trial_index"] % 2).astype(int)
    r2 = analysis.analyze("gt_prediction", within, plots=False, n_boot=100, strict=True)
    _no_silent_nan(r2)
    assert _terms(r2, "cohens_dz") == ["explanation"]
    assert "random slopes" in _row(r2, "glmm_correct", "explanation")["note"]


def test_gt_prediction_methods_default_to_none_as_the_reference():
    # the platform exports the no-explanation condition as method "none", which sorts after
    # "gradcam": the contrasts must still be against "none", not against the first method
    table = synthetic.gt_prediction_study(n_participants=30, n_items=12, seed=8)
    shown = table["explanation_shown"] == 1
    table["method"] = np.where(shown, np.where(table["trial_index"] < 6, "gradcam", "rise"), "none")
    r = analysis.analyze(
        "gt_prediction", table.drop(columns=["explanation_shown"]), plots=False, n_boot=50
    )
    assert _terms(r, "glmm_correct")[:3] == ["(Intercept)", "method[gradcam]", "method[rise]"]
    assert _terms(r, "risk_difference") == ["gradcam vs none", "rise vs none"]
    assert _terms(r, "cohens_h") == ["gradcam vs none", "rise vs none"]
    data = table[table["method"].isin(["gradcam", "none"])]
    hidden, gradcam = (data.loc[data["method"] == m, "correct"].mean() for m in ("none", "gradcam"))
    assert _row(r, "risk_difference", "gradcam vs none")["estimate"] == pytest.approx(
        gradcam - hidden
    )
    # an explicit reference still wins
    r2 = analysis.analyze(
        "gt_prediction",
        table.drop(columns=["explanation_shown"]),
        plots=False,
        n_boot=50,
        reference="gradcam",
    )
    assert _terms(r2, "risk_difference") == ["none vs gradcam", "rise vs gradcam"]


# --- bad tables: a note, never a crash or a silent NaN -----------------------------------


def test_constant_outcome_in_simulation_gives_notes():
    table = synthetic.simulation_study(n_participants=16, n_items=6, seed=1)
    table["correct"] = 1
    table["prediction"] = table["model_output"]
    r = analysis.analyze("simulation", table, n_boot=50, strict=True)
    _no_silent_nan(r)
    sal = _row(r, "glmm_correct", "saliency")
    assert np.isnan(sal["estimate"]) and "every response is correct" in sal["note"]
    assert "Wilson" in _row(r, "cell_accuracy", "saliency=1,scores=0")["note"]
    assert "undefined" in _row(r, "anova_accuracy", "partial_eta2[saliency]")["note"]


def test_constant_outcome_in_gt_prediction_still_plots_the_raw_accuracies():
    table = synthetic.gt_prediction_study(n_participants=10, n_items=6, seed=2)
    table["correct"] = 1
    r = analysis.analyze("gt_prediction", table, n_boot=50, strict=True)
    _no_silent_nan(r)
    assert np.isnan(_row(r, "glmm_correct", "explanation")["estimate"])
    shown = _row(r, "cell_accuracy", "explanation=1")
    assert shown["estimate"] == 1.0 and "Wilson" in shown["note"]
    assert 0.5 < shown["ci_low"] < 1.0 and shown["ci_high"] == pytest.approx(1.0)
    assert r.plots["accuracy_by_condition"].startswith(b"\x89PNG")


def test_constant_rating_in_likert_gives_notes():
    table = synthetic.likert_study(n_participants=6, n_items=6, seed=1)
    table["rating"] = 3
    r = analysis.analyze("likert", table, n_boot=50, strict=True)
    _no_silent_nan(r)
    assert "every rating is 3" in _row(r, "clmm", "method[rise]")["note"]
    assert "tied" in _row(r, "friedman", "method")["note"]
    assert "same value" in _row(r, "krippendorff_alpha", "ordinal")["note"]


def test_method_never_chosen_in_preference():
    table = synthetic.preference_study(n_participants=20, n_items=12, seed=2)
    loses = table["choice"] == "smoothgrad"
    table.loc[loses, "choice"] = np.where(
        table.loc[loses, "method_a"] == "smoothgrad",
        table.loc[loses, "method_b"],
        table.loc[loses, "method_a"],
    )
    r = analysis.analyze("preference", table, n_boot=100, strict=True)
    _no_silent_nan(r)
    bt = _row(r, "bradley_terry", "smoothgrad")
    assert np.isnan(bt["estimate"]) and "never chosen" in bt["note"]
    assert np.isfinite(_row(r, "bradley_terry", "rise")["estimate"])
    assert _row(r, "win_rate", "smoothgrad")["estimate"] == 0.0
    assert "never chosen" in _row(r, "win_rate", "smoothgrad")["note"]


def test_one_item_and_one_condition():
    table = synthetic.simulation_study(n_participants=24, n_items=1, seed=3)
    r = analysis.analyze("simulation", table, n_boot=50, strict=True)
    _no_silent_nan(r)
    assert "only one item" in _row(r, "glmm_correct", "saliency")["note"]
    table = synthetic.simulation_study(n_participants=24, n_items=8, seed=3)
    table["saliency_shown"] = 1
    r = analysis.analyze("simulation", table, n_boot=50, strict=True)
    _no_silent_nan(r)
    assert "does not vary" in _row(r, "glmm_correct", "saliency")["note"]
    assert np.isfinite(_row(r, "glmm_correct", "scores")["estimate"])


def test_single_method_likert():
    table = synthetic.likert_study(
        n_participants=6, n_items=6, seed=1, method_effects={"gradcam": 0.0}
    )
    r = analysis.analyze("likert", table, n_boot=50, strict=True)
    _no_silent_nan(r)
    assert "only one method" in _row(r, "clmm", "method")["note"]


def test_exclusions_are_reported_in_the_sample_rows():
    table = synthetic.likert_study(n_participants=12, n_items=6, seed=1)
    table["excluded"] = (table["participant_id"] == "P0").astype(int)
    table["exclusion_reason"] = np.where(table["excluded"] == 1, "attention check", "")
    r = analysis.analyze("likert", table, plots=False, n_boot=50, strict=True)
    assert _row(r, "sample", "participants")["estimate"] == 11
    excluded = _row(r, "sample", "excluded_responses")
    assert excluded["estimate"] == 6 and "attention check: 6" in excluded["note"]
    assert any("excluded" in n for n in r.notes)


# --- determinism, inputs -------------------------------------------------------------------


def test_same_seed_same_table_and_plots():
    table = synthetic.preference_study(n_participants=12, n_items=9, seed=9)
    a = analysis.analyze("preference", table, seed=3, n_boot=100)
    b = analysis.analyze("preference", table, seed=3, n_boot=100)
    pd.testing.assert_frame_equal(a.results, b.results)
    assert a.plots == b.plots
    assert all(png.startswith(b"\x89PNG") for png in a.plots.values())
    c = analysis.analyze("preference", table, seed=4, n_boot=100)
    assert not np.allclose(a.results["ci_low"].fillna(0), c.results["ci_low"].fillna(0))


def test_metrics_in_long_wide_and_per_item_form(likert_result):
    table = synthetic.likert_study(seed=3)
    long = pd.DataFrame(
        [
            {"method": m, "metric": k, "value": v}
            for k, per in METRICS.items()
            for m, v in per.items()
        ]
    )
    wide = long.pivot(index="method", columns="metric", values="value").reset_index()
    for metrics in (long, wide):
        r = analysis.analyze("likert", table, metrics=metrics, seed=1, n_boot=300, plots=False)
        a = r.results[r.results["analysis"] == "human_vs_metric"].reset_index(drop=True)
        b = likert_result.results[likert_result.results["analysis"] == "human_vs_metric"]
        pd.testing.assert_frame_equal(a, b.reset_index(drop=True))
    items = sorted(table["item_id"].unique())
    rng = np.random.default_rng(0)
    per_item = pd.DataFrame(
        [
            {
                "method": m,
                "item_id": i,
                "metric": "dauc",
                "value": METRICS["dauc"][m] + rng.normal(0, 0.001),
            }
            for m in METRICS["dauc"]
            for i in items
        ]
    )
    per_item.loc[0, "value"] = np.nan
    r = analysis.analyze("likert", table, metrics=per_item, n_boot=200, plots=False)
    row = _row(r, "human_vs_metric", "dauc")
    assert "1 missing metric value" in row["note"] and "metric)" in row["note"]
    with pytest.raises(analysis.TableError, match="'method' column"):
        analysis.analyze("likert", table, metrics=pd.DataFrame({"x": [1.0]}))


def test_unknown_reference_is_refused():
    with pytest.raises(analysis.TableError, match="reference method 'lime'"):
        analysis.analyze(
            "likert", synthetic.likert_study(n_participants=6, n_items=6), reference="lime"
        )
