"""Ground-truth prediction: options, variants, conditions, bots and the export."""

from __future__ import annotations

import csv
import io
from collections import defaultdict

import pandas as pd
import pytest

from analysis.table import validate_table
from studies.bots import ResponseModel, simulate
from studies.configschema import ConfigError
from studies.export import StudyExport
from studies.models import Participant, Trial
from studies.protocols import get_protocol

from .conftest import METHODS, create_study, make_assets

pytestmark = pytest.mark.django_db


@pytest.fixture
def gt_assets(media_root):
    return make_assets(n_images=8, methods=METHODS[:1])


def test_choose_class_offers_truth_prediction_and_distractors(researcher, gt_assets):
    study = create_study(researcher, gt_assets, protocol="gt_prediction")
    simulate(study, n=2, seed=3)
    for p in Participant.objects.filter(study=study):
        positions = []
        for trial in p.trials.filter(kind="main").select_related("stimulus"):
            data = trial.stimulus.data
            labels = [o["label"] for o in trial.shown["choice"]["options"]]
            assert len(labels) == len(set(labels)) == 4
            assert data["label"] in labels and data["predicted_label"] in labels
            assert trial.hidden["options"] == labels
            positions.append(labels.index(data["label"]))
            shown_map = trial.shown["explanation"] is not None
            assert shown_map == p.condition.factors["explanation_shown"]
            assert "truth" not in str(trial.shown) and "model_correct" not in str(trial.shown)
        assert len(set(positions)) > 1  # the order is randomised


def test_bots_more_accurate_with_the_explanation_export_matching_accuracies(researcher, gt_assets):
    study = create_study(researcher, gt_assets, protocol="gt_prediction")
    simulate(study, n=8, seed=4, model=ResponseModel(effects={"base": -1.5, "explanation": 9.0}))
    text = StudyExport(study).responses_csv()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 8 * 8
    by_cell: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        assert row["correct"] == str(int(row["chosen_class"] == row["true_class"]))
        by_cell[row["explanation_shown"]].append(int(row["correct"]))
    assert sum(by_cell["1"]) / len(by_cell["1"]) >= 0.97  # sigmoid(7.5) ≈ 0.9994
    assert sum(by_cell["0"]) / len(by_cell["0"]) <= 0.45  # sigmoid(-1.5) ≈ 0.18
    table = pd.read_csv(io.StringIO(text), na_values=["NA"], keep_default_na=False)
    assert validate_table("gt_prediction", table).n_participants == 8


def test_verify_variant_scores_agreement_with_whether_the_model_was_right(researcher, gt_assets):
    study = create_study(
        researcher, gt_assets, protocol="gt_prediction", configuration={"variant": "verify"}
    )
    simulate(study, n=4, seed=5, model=ResponseModel(effects={"base": 15.0}))
    rows = list(csv.DictReader(io.StringIO(StudyExport(study).responses_csv())))
    assert rows and all(r["correct"] == "1" for r in rows)
    assert all(r["answer"] == r["model_correct"] for r in rows)  # always right: yes iff correct
    trial = Participant.objects.filter(study=study).first().trials.filter(kind="main").first()
    assert trial.shown["question"].startswith("The system says this photo shows")
    assert [o["value"] for o in trial.shown["choice"]["options"]] == ["yes", "no"]


def test_methods_compared_within_subjects_by_latin_square(researcher, media_root):
    assets = make_assets(n_images=9, methods=METHODS[:2])
    study = create_study(
        researcher,
        assets,
        protocol="gt_prediction",
        configuration={"compare": "methods", "design": "within"},
    )
    assert study.conditions.count() == 6  # 3 levels (none + 2 methods), odd → 2 × 3 rows
    simulate(study, n=2, seed=6)
    rows = list(csv.DictReader(io.StringIO(StudyExport(study).responses_csv())))
    assert "explanation_shown" not in rows[0]
    for pid in {r["participant_id"] for r in rows}:
        levels = [r["method"] for r in rows if r["participant_id"] == pid]
        assert sorted(set(levels)) == ["gradcam", "none", "occlusion"]
        assert max(levels.count(m) for m in set(levels)) == 3


def test_configuration_is_checked_against_the_methods():
    protocol = get_protocol("gt_prediction")
    with pytest.raises(ConfigError, match="uses one method"):
        protocol.validate_config({}, methods=["a", "b"])
    clean = protocol.validate_config({"compare": "methods"}, methods=["a", "b"])
    assert [c.name for c in protocol.conditions(clean, methods=["a", "b"])] == [
        "level none",
        "level a",
        "level b",
    ]
    shown = {"choice": {"options": [{"value": 0}, {"value": 1}]}, "items": []}
    with pytest.raises(Exception, match="answer must be one of 0, 1"):
        protocol.validate_response(clean, shown=shown, value={"answer": 5})
    assert protocol.validate_response(clean, shown=shown, value={"answer": "1"}) == {"answer": 1}


def test_degraded_images_replace_the_photo_under_an_opaque_name(researcher, gt_assets):
    from django.core.files.storage import default_storage
    from PIL import Image as PILImage

    study = create_study(
        researcher,
        gt_assets,
        protocol="gt_prediction",
        configuration={"degrade": "crop", "degrade_strength": 0.5},
    )
    stimulus = study.stimuli.first()
    derived, original = stimulus.data["image"], stimulus.data["original_image"]
    assert derived != original and derived.startswith("s/")
    with default_storage.open(derived, "rb") as a, default_storage.open(original, "rb") as b:
        assert PILImage.open(a).size == (4, 4) and PILImage.open(b).size == (8, 8)
    simulate(study, n=1, seed=1)
    for trial in Participant.objects.get(study=study).trials.filter(kind="main"):
        files = set(trial.assets.values())
        assert trial.stimulus.data["image"] in files
        assert trial.stimulus.data["original_image"] not in files


def test_labels_spelled_unlike_the_classifier_name_each_class_once_and_score_by_class(
    researcher, media_root
):
    """The labels file spells classes its own way ("ZEBRA" for the model's "zebra"): the truth is
    offered once, in the classifier's spelling, and choosing it is scored correct."""
    from .conftest import CLASS_NAMES

    assets = make_assets(n_images=8, methods=METHODS[:1], spell_label=lambda n: n.upper() + "!")
    study = create_study(researcher, assets, protocol="gt_prediction")
    protocol = get_protocol("gt_prediction")
    for stimulus in study.stimuli.all():
        assert stimulus.data["label"] == CLASS_NAMES[stimulus.data["label_index"]]
        assert stimulus.data["image_label"] == stimulus.data["label"].upper() + "!"
    simulate(study, n=2, seed=8)
    n_checked = 0
    for trial in Trial.objects.filter(participant__study=study, kind="main"):
        labels = [o["label"] for o in trial.shown["choice"]["options"]]
        assert len(labels) == len(set(labels)) == 4
        assert set(labels) <= set(CLASS_NAMES)  # no odd spelling gives the truth away
        truth = CLASS_NAMES[trial.stimulus.data["label_index"]]
        for option in trial.shown["choice"]["options"]:
            scored = protocol.score(
                study.configuration, hidden=trial.hidden, value={"answer": option["value"]}
            )
            assert scored["correct"] is (option["label"] == truth)
        n_checked += 1
    assert n_checked == 16


def test_prediction_shown_gives_agreement_and_reliance_in_the_results(researcher, gt_assets):
    from analysis import analyze

    study = create_study(
        researcher,
        gt_assets,
        protocol="gt_prediction",
        configuration={"show_prediction": True, "confidence": False},
    )
    simulate(study, n=6, seed=9)
    trial = Participant.objects.filter(study=study).first().trials.filter(kind="main").first()
    predicted = trial.stimulus.data["predicted_label"]
    assert trial.shown["question"].startswith(f"The system says this photo shows “{predicted}”")
    text = StudyExport(study).responses_csv()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {r["agrees_with_model"] for r in rows} == {"0", "1"}
    for r in rows:
        assert r["agrees_with_model"] == str(int(r["chosen_class"] == r["predicted_class"]))
    assert {r["model_correct"] for r in rows} == {"0", "1"}
    table = pd.read_csv(io.StringIO(text), na_values=["NA"], keep_default_na=False)
    result = analyze("gt_prediction", table, plots=False, n_boot=50).results
    over = result[result["analysis"] == "over_reliance"]
    assert set(over["term"]) == {"explanation=0", "explanation=1"}
    wrong = [r for r in rows if r["model_correct"] == "0" and r["explanation_shown"] == "1"]
    followed = sum(r["agrees_with_model"] == "1" for r in wrong)
    shown = over[over["term"] == "explanation=1"].iloc[0]
    assert shown["estimate"] == pytest.approx(followed / len(wrong))
    assert set(result.loc[result["analysis"] == "glmm_over_reliance", "term"]) >= {
        "(Intercept)",
        "explanation",
    }


def test_without_the_prediction_shown_there_is_no_agreement_column(researcher, gt_assets):
    study = create_study(researcher, gt_assets, protocol="gt_prediction")
    simulate(study, n=2, seed=9)
    trial = Participant.objects.filter(study=study).first().trials.filter(kind="main").first()
    assert trial.shown["question"] == "What does this photo really show?"
    assert "agrees_with_model" not in StudyExport(study).responses_csv().splitlines()[0]
    verify = create_study(
        researcher, gt_assets, protocol="gt_prediction", configuration={"variant": "verify"}
    )
    simulate(verify, n=2, seed=9)
    rows = list(csv.DictReader(io.StringIO(StudyExport(verify).responses_csv())))
    assert rows and all(r["agrees_with_model"] == r["answer"] for r in rows)
