"""Reliance on the model's answer: exact figures on a constructed table with known counts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis.reliance import RelianceCounts, reliance_counts
from analysis.table import TableError

# per condition: (agree ∧ right, disagree ∧ right, agree ∧ wrong, disagree ∧ wrong)
COUNTS = {0: (16, 4, 12, 8), 1: (18, 2, 6, 14)}


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson (1927) by hand: (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n)."""
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)


def _table() -> pd.DataFrame:
    """8 participants (4 per condition) × 10 items; the 2 × 2 of each condition is COUNTS."""
    rows = []
    for shown, (ar, dr, aw, dw) in COUNTS.items():
        cells = [(1, 1)] * ar + [(0, 1)] * dr + [(1, 0)] * aw + [(0, 0)] * dw
        rng = np.random.default_rng(shown)
        rng.shuffle(cells)
        for j, (agree, right) in enumerate(cells):
            rows.append(
                {
                    "participant_id": f"P{shown}{j % 4}",
                    "item_id": f"i{j // 4}",
                    "trial_index": j // 4,
                    "explanation_shown": shown,
                    "correct": int(agree == right),
                    "agrees_with_model": agree,
                    "model_correct": right,
                }
            )
    return pd.DataFrame(rows)


def _row(r: analysis.AnalysisResult, name: str, term: str) -> pd.Series:
    rows = r.results[(r.results["analysis"] == name) & (r.results["term"] == term)]
    assert len(rows) == 1, (name, term, r.results["analysis"].unique())
    return rows.iloc[0]


def test_counts_and_fractions_of_each_measure():
    cells = reliance_counts([1, 1, 0, 1, 0, 0], [1, 0, 1, 0, 0, 1], ["a", "a", "a", "b", "b", "b"])
    assert cells == [RelianceCounts("a", 1, 1, 1, 0), RelianceCounts("b", 0, 1, 1, 1)]
    assert cells[1].fraction("over_reliance") == (1, 2)
    assert cells[1].fraction("under_reliance") == (1, 1)
    assert cells[1].fraction("appropriate_reliance") == (1, 3)
    with pytest.raises(ValueError, match="unknown reliance measure 'over'"):
        cells[0].fraction("over")
    with pytest.raises(ValueError, match="differ in length"):
        reliance_counts([1], [1, 0], ["a"])


def test_reliance_rates_are_exact_with_wilson_intervals():
    r = analysis.analyze("gt_prediction", _table(), plots=False, n_boot=50, strict=True)
    expected = {
        "explanation=0": {"over_reliance": (12, 20), "under_reliance": (4, 20)},
        "explanation=1": {"over_reliance": (6, 20), "under_reliance": (2, 20)},
    }
    expected["explanation=0"]["appropriate_reliance"] = (16 + 8, 40)
    expected["explanation=1"]["appropriate_reliance"] = (18 + 14, 40)
    for term, measures in expected.items():
        for measure, (k, n) in measures.items():
            row = _row(r, measure, term)
            assert row["estimate"] == pytest.approx(k / n, abs=1e-12)
            assert row["n"] == n
            low, high = _wilson(k, n)
            assert row["ci_low"] == pytest.approx(low, abs=1e-9)
            assert row["ci_high"] == pytest.approx(high, abs=1e-9)
            assert f"{k}/{n}" in row["note"]
    # in these data the explanation lowers over-reliance (log odds < 0) and raises appropriateness
    over = _row(r, "glmm_over_reliance", "explanation")
    assert over["estimate"] < 0 and math.isfinite(over["p"])
    assert "on trials the model got wrong" in over["note"]
    assert _row(r, "glmm_appropriate_reliance", "explanation")["estimate"] > 0
    assert _row(r, "glmm_under_reliance", "explanation")["n"] == 40  # model-right trials only


def test_methods_compared_get_method_terms_and_no_reliance_without_the_columns():
    table = _table()
    table["method"] = np.where(table["explanation_shown"] == 1, "gradcam", "none")
    r = analysis.analyze(
        "gt_prediction", table.drop(columns=["explanation_shown"]), plots=False, n_boot=50
    )
    assert _row(r, "over_reliance", "gradcam")["estimate"] == pytest.approx(0.3)
    assert _row(r, "glmm_over_reliance", "method[gradcam]")["n"] == 40
    plain = analysis.analyze(
        "gt_prediction",
        table.drop(columns=["agrees_with_model", "model_correct"]),
        plots=False,
        n_boot=50,
    )
    assert not plain.results["analysis"].str.contains("reliance").any()


def test_rows_without_the_model_s_correctness_are_left_out_and_counted():
    table = _table()
    table.loc[:3, "model_correct"] = np.nan
    r = analysis.analyze("gt_prediction", table, plots=False, n_boot=50, strict=True)
    total = sum(_row(r, "appropriate_reliance", t)["n"] for t in ("explanation=0", "explanation=1"))
    assert total == 80 - 4
    assert (
        "4 row(s) without agrees_with_model or model_correct left out"
        in (_row(r, "over_reliance", "explanation=0")["note"])
    )


def test_a_condition_where_the_model_is_never_wrong_says_so():
    table = _table()
    table = table[~((table["explanation_shown"] == 1) & (table["model_correct"] == 0))]
    r = analysis.analyze("gt_prediction", table, plots=False, n_boot=50, strict=True)
    row = _row(r, "over_reliance", "explanation=1")
    assert math.isnan(row["estimate"]) and "never wrong" in row["note"]


def test_non_binary_agreement_is_refused_by_name():
    table = _table()
    table["agrees_with_model"] = table["agrees_with_model"].astype(object)
    table.loc[0, "agrees_with_model"] = "maybe"
    with pytest.raises(TableError, match="agrees_with_model"):
        analysis.analyze("gt_prediction", table, plots=False, n_boot=50, strict=True)
