"""Table validation: clear TableError messages, exclusions counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import PROTOCOLS, TableError, validate_table
from analysis.synthetic import likert_study, preference_study, simulation_study


def test_table_error_is_a_value_error():
    assert issubclass(TableError, ValueError)
    assert set(PROTOCOLS) == {"likert", "preference", "simulation", "gt_prediction"}


def test_unknown_protocol_and_empty_table():
    with pytest.raises(TableError, match="unknown protocol 'ranking'"):
        validate_table("ranking", likert_study())
    with pytest.raises(TableError, match="no rows"):
        validate_table("likert", likert_study().iloc[:0])


@pytest.mark.parametrize(
    ("protocol", "drop"),
    [
        ("likert", "rating"),
        ("likert", "participant_id"),
        ("preference", "choice"),
        ("simulation", "scores_shown"),
    ],
)
def test_missing_column_is_named(protocol, drop):
    table = {
        "likert": likert_study,
        "preference": preference_study,
        "simulation": simulation_study,
    }[protocol]()
    with pytest.raises(TableError, match=f"missing required column.*{drop}"):
        validate_table(protocol, table.drop(columns=[drop]))


def test_gt_prediction_needs_explanation_or_method():
    table = pd.DataFrame(
        {
            "participant_id": ["a", "b"],
            "item_id": ["i", "i"],
            "trial_index": [0, 0],
            "correct": [1, 0],
        }
    )
    with pytest.raises(TableError, match=r"explanation_shown \(or method\)"):
        validate_table("gt_prediction", table)


def test_one_participant_is_refused():
    table = likert_study(n_participants=1)
    with pytest.raises(TableError, match=r"at least 2 participants.*found 1"):
        validate_table("likert", table)


def test_exclusions_leaving_one_participant_are_refused():
    table = likert_study(n_participants=2, n_items=6)
    table["excluded"] = (table["participant_id"] == "P1").astype(int)
    with pytest.raises(TableError, match="after exclusions"):
        validate_table("likert", table)


def test_bad_values_are_named():
    table = simulation_study(n_participants=8, n_items=4)
    table.loc[3, "correct"] = 2
    with pytest.raises(TableError, match="'correct' must hold 0/1 values; found 2"):
        validate_table("simulation", table)
    table = likert_study(n_participants=4, n_items=3)
    table["rating"] = table["rating"].astype(object)
    table.loc[0, "rating"] = 2.5
    with pytest.raises(TableError, match="integer scale points"):
        validate_table("likert", table)
    table.loc[0, "rating"] = "good"
    with pytest.raises(TableError, match="'good'"):
        validate_table("likert", table)


def test_choice_must_be_one_of_the_shown_methods():
    table = preference_study(n_participants=4, n_items=3)
    table.loc[2, "choice"] = "lime"
    with pytest.raises(TableError, match="choice 'lime'"):
        validate_table("preference", table)
    table = preference_study(n_participants=4, n_items=3)
    table.loc[1, "method_b"] = table.loc[1, "method_a"]
    with pytest.raises(TableError, match="with itself"):
        validate_table("preference", table)


def test_duplicate_trials_and_bad_trial_index():
    table = likert_study(n_participants=3, n_items=4)
    table.loc[1, "trial_index"] = table.loc[0, "trial_index"]
    with pytest.raises(TableError, match="share a \\(participant_id, trial_index\\)") as caught:
        validate_table("likert", table)
    # plain values, not numpy reprs such as np.int64(0)
    assert "trial_index 0;" in str(caught.value) and "np." not in str(caught.value)
    table = likert_study(n_participants=3, n_items=4).astype({"trial_index": object})
    table.loc[0, "trial_index"] = "first"
    with pytest.raises(TableError, match="trial_index"):
        validate_table("likert", table)


def test_a_preference_trial_may_compare_several_pairs_but_each_once():
    """A k-way choice or ranking is exported as one row per pair, all with its trial_index."""
    rows = [
        {
            "participant_id": p,
            "item_id": "img",
            "trial_index": 0,
            "method_a": a,
            "method_b": b,
            "choice": c,
        }
        for p in ("p1", "p2")
        for a, b, c in [
            ("gradcam", "rise", "gradcam"),
            ("gradcam", "lime", "gradcam"),
            ("rise", "lime", "lime"),
        ]
    ]
    prepared = validate_table("preference", pd.DataFrame(rows))
    assert len(prepared.data) == 6
    twice = pd.DataFrame([*rows, rows[0]])
    with pytest.raises(
        TableError, match="share a \\(participant_id, trial_index, method_a, method_b\\)"
    ):
        validate_table("preference", twice)


def test_missing_ids_are_refused():
    table = likert_study(n_participants=3, n_items=4).astype({"item_id": object})
    table.loc[0, "item_id"] = np.nan
    with pytest.raises(TableError, match="'item_id' has 1 missing"):
        validate_table("likert", table)


def test_exclusions_and_missing_responses_are_counted():
    table = likert_study(n_participants=10, n_items=6)
    table["excluded"] = 0
    table["exclusion_reason"] = pd.NA
    table.loc[table["participant_id"] == "P3", "excluded"] = 1
    table.loc[table["participant_id"] == "P3", "exclusion_reason"] = "attention check"
    table.loc[0, ["excluded", "exclusion_reason"]] = [1, "too fast"]
    table["rating"] = table["rating"].astype(float)
    table.loc[10, "rating"] = np.nan
    prepared = validate_table("likert", table)
    assert prepared.n_rows_excluded == 7
    assert prepared.n_participants_excluded == 1
    assert prepared.exclusion_reasons == {"attention check": 6, "too fast": 1}
    assert prepared.n_rows_missing_response == 1
    assert len(prepared.data) == 60 - 7 - 1
    assert any("7 of 60 rows excluded" in n for n in prepared.notes)
    assert any("without a response" in n for n in prepared.notes)


def test_booleans_and_text_are_accepted_as_binary():
    table = simulation_study(n_participants=8, n_items=4)
    table["saliency_shown"] = table["saliency_shown"].map({0: "false", 1: "true"})
    prepared = validate_table("simulation", table)
    assert set(prepared.data["saliency_shown"]) == {0.0, 1.0}


def test_the_missing_response_note_names_only_the_missing_columns():
    table = simulation_study(n_participants=4, n_items=4)
    table["correct"] = table["correct"].astype(float)
    table.loc[0, "correct"] = np.nan
    prepared = validate_table("simulation", table)
    assert any("(correct missing)" in n for n in prepared.notes), prepared.notes
