"""Model-output simulation: task selection, trials, hidden conditions, bots and the export."""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict

import pandas as pd
import pytest

from analysis.table import validate_table
from studies.bots import ResponseModel, simulate
from studies.configschema import ConfigError
from studies.errors import StimuliMissing
from studies.export import StudyExport
from studies.models import Participant, Response, Trial
from studies.protocols import get_protocol
from studies.protocols._selection import OUTCOMES, Rule, diagnose, draw_tasks, outcome
from studies.protocols.base import StimulusItem

from .conftest import METHODS, create_study, make_assets

pytestmark = pytest.mark.django_db


def sim_assets(**kw):
    """24 images, 4 per class: for class c, two recognised (TP) and two predicted c+1 (FN);
    the two misclassified images of class c-1 are its false positives."""
    kw.setdefault("methods", METHODS[:1])
    return make_assets(n_images=24, misclassified=lambda k: (k // 6) % 2 == 0, **kw)


@pytest.fixture
def sim_study(researcher, media_root):
    assets = sim_assets()
    return create_study(researcher, assets, protocol="simulation", configuration={"tasks": 6})


def item(pk: int, truth: int | None, predicted: int, top=()) -> StimulusItem:
    return StimulusItem(
        pk=pk,
        item_id=f"i{pk}",
        image=f"images/{pk}.png",
        label=None if truth is None else f"c{truth}",
        label_index=truth,
        predicted=predicted,
        predicted_label=f"c{predicted}",
        correct=None if truth is None else truth == predicted,
        top_classes=tuple(top) or (predicted,),
        top_labels=tuple(f"c{c}" for c in (tuple(top) or (predicted,))),
        top_probabilities=tuple(0.5 for _ in (tuple(top) or (predicted,))),
        maps={},
    )


def test_outcomes_follow_the_recognition_rule():
    top1 = Rule("top1")
    assert outcome(item(1, 0, 0), 0, top1) == "TP"
    assert outcome(item(2, 0, 3), 0, top1) == "FN"
    assert outcome(item(3, 1, 0), 0, top1) == "FP"
    assert outcome(item(4, 1, 1), 0, top1) == "TN"
    assert outcome(item(5, None, 0), 0, top1) is None
    # among the top 2: an image of class 0 whose second guess is 0 is now recognised
    assert outcome(item(6, 0, 3, top=(3, 0, 5)), 0, Rule("top_k", 2)) == "TP"
    assert outcome(item(6, 0, 3, top=(3, 5, 0)), 0, Rule("top_k", 2)) == "FN"


def test_diagnosis_says_what_each_class_lacks_and_the_messages_name_usable_classes():
    items = [item(1, 0, 0), item(2, 0, 3), item(3, 1, 0), item(4, 1, 1), item(5, 1, 1)]
    items += [item(6, 2, 2), item(7, 3, 3)]
    diagnoses = {d.label: d for d in diagnose(items, Rule("top1"))}
    assert diagnoses["c0"].usable and diagnoses["c0"].counts == {"TP": 1, "FP": 1, "TN": 2, "FN": 1}
    assert diagnoses["c0"].pool.contrast == 1  # the class whose image is taken for c0
    assert not diagnoses["c2"].usable
    assert any("no false negative" in r for r in diagnoses["c2"].reasons)
    assert any("no false positive" in r for r in diagnoses["c2"].reasons)
    protocol = get_protocol("simulation")
    config = protocol.validate_config({"target_classes": ["c2"]}, methods=["m"])
    messages = protocol.check_stimuli(config, items, methods=["m"])
    assert any("“c2” cannot supply a task" in m and "no false negative" in m for m in messages)
    assert any("classes that can supply a task: c0" in m for m in messages)


def test_tasks_use_four_distinct_outcomes_and_never_reuse_a_test_image():
    items = [item(k, k % 2, (k % 2) if k % 3 else 1 - k % 2) for k in range(20)]
    pools = [d.pool for d in diagnose(items, Rule("top1")) if d.pool is not None]
    assert pools
    tasks = draw_tasks(pools, 10, Rule("top1"), random.Random(3))
    assert len(tasks) == 10
    assert len({t.test.pk for t in tasks}) == 10
    for task in tasks:
        assert set(task.examples) == set(OUTCOMES)
        for name, example in task.examples.items():
            assert outcome(example, task.target, Rule("top1")) == name
            assert example.pk != task.test.pk
    # test images alternate between the target class and the negatives
    positives = sum(t.test.label_index == t.target for t in tasks)
    assert positives == 5


def test_conditions_are_the_2x2_cells_and_hidden_parts_are_absent(researcher, sim_study):
    names = list(sim_study.conditions.values_list("name", "factors"))
    assert [f for _, f in names] == [
        {"saliency_shown": False, "scores_shown": False},
        {"saliency_shown": False, "scores_shown": True},
        {"saliency_shown": True, "scores_shown": False},
        {"saliency_shown": True, "scores_shown": True},
    ]
    report = simulate(sim_study, n=4, seed=1)
    assert report.outcomes == {"complete": 4}, report.summary()
    participants = Participant.objects.filter(study=sim_study).select_related("condition")
    assert sorted(p.condition.position for p in participants) == [0, 1, 2, 3]
    for p in participants:
        factors = p.condition.factors
        for trial in p.trials.filter(kind="main"):
            shown = trial.shown
            assert len(shown["examples"]) == 4
            has_map = [ex["map"] is not None for ex in shown["examples"]] + [
                shown["test"]["map"] is not None
            ]
            assert all(has_map) if factors["saliency_shown"] else not any(has_map)
            has_scores = ["scores" in ex for ex in shown["examples"]]
            assert all(has_scores) if factors["scores_shown"] else not any(has_scores)
            assert "scores" not in shown["test"]  # the test image's output is never shown
            assert set(shown["test"]) == {"image", "map"}
            assert len(trial.assets) == (10 if factors["saliency_shown"] else 5)
            assert trial.hidden["test_outcome"] in OUTCOMES


def test_bots_more_accurate_with_the_map_give_matching_cell_accuracies(sim_study):
    model = ResponseModel(effects={"base": 0.0, "map": 14.0})
    report = simulate(sim_study, n=16, seed=7, model=model)
    assert report.outcomes == {"complete": 16}
    # accuracy per cell from the database (the model's output is in hidden) ...
    truth: dict[tuple[bool, bool], list[bool]] = defaultdict(list)
    responses = Response.objects.filter(
        participant__study=sim_study, trial__kind=Trial.Kind.MAIN
    ).select_related("trial")
    for r in responses:
        said = r.value["prediction"] == "yes"
        cell = (r.trial.hidden["saliency_shown"], r.trial.hidden["scores_shown"])
        truth[cell].append(said == r.trial.hidden["model_output"])
    # ... and from the exported tidy table
    rows = list(csv.DictReader(io.StringIO(StudyExport(sim_study).responses_csv())))
    assert len(rows) == 16 * 6
    exported: dict[tuple[bool, bool], list[bool]] = defaultdict(list)
    for row in rows:
        cell = (row["saliency_shown"] == "1", row["scores_shown"] == "1")
        exported[cell].append(row["correct"] == "1")
        assert row["correct"] == str(int(row["prediction"] == row["model_output"]))
        assert row["model_output"] == str(int(row["model_outcome"] in ("TP", "FP")))
        assert row["confidence"] in {"1", "2", "3", "4", "5"}
    assert set(exported) == {(False, False), (False, True), (True, False), (True, True)}
    for cell, values in exported.items():
        assert sorted(values) == sorted(truth[cell])
        accuracy = sum(values) / len(values)
        if cell[0]:  # map shown: log-odds 14, p ≈ 0.999999
            assert accuracy == 1.0
        else:  # map hidden: chance
            assert 0.15 <= accuracy <= 0.85, (cell, accuracy)
    table = pd.read_csv(
        io.StringIO(StudyExport(sim_study).responses_csv()), na_values=["NA"], keep_default_na=False
    )
    prepared = validate_table("simulation", table)
    assert prepared.n_participants == 16


def test_invalid_answers_are_refused_with_clear_messages(sim_study):
    protocol = get_protocol("simulation")
    config = sim_study.configuration
    shown = {"items": [{"options": [{"value": v} for v in range(1, 6)]}]}
    cases = [
        ({}, "Yes or No"),
        ({"prediction": "maybe", "confidence": 3}, "'yes' or 'no'"),
        ({"prediction": "yes"}, "how confident"),
        ({"prediction": "yes", "confidence": 9}, "confidence: choose one of 1–5"),
        ({"prediction": "yes", "confidence": 3, "extra": 1}, "unexpected answer field"),
    ]
    for value, message in cases:
        with pytest.raises(Exception, match=message):
            protocol.validate_response(config, shown=shown, value=value)
    assert protocol.validate_response(
        config, shown=shown, value={"prediction": "no", "confidence": "2"}
    ) == {"prediction": "no", "confidence": 2}


def test_an_image_set_that_cannot_supply_a_task_is_explained_at_launch(researcher, media_root):
    # every image recognised: no false negatives, no false positives anywhere
    assets = make_assets(n_images=12, misclassified=lambda k: False, methods=METHODS[:1])
    with pytest.raises(StimuliMissing) as error:
        create_study(researcher, assets, protocol="simulation")
    text = str(error.value)
    assert "cannot supply a model-output-simulation task" in text
    assert "no false negative" in text and "no false positive" in text


def test_configuration_errors_name_the_option():
    protocol = get_protocol("simulation")
    with pytest.raises(ConfigError) as error:
        protocol.validate_config({"points": 6, "recognised_if": "top3"}, methods=["m"])
    assert set(error.value.errors) == {"recognised_if"}
    with pytest.raises(ConfigError) as error:
        protocol.validate_config({"points": 6}, methods=["m"])
    assert "must be 4, 5 or 7" in error.value.errors["points"][0]


def test_no_test_image_was_shown_before_to_the_same_participant(researcher, media_root):
    """A training example shows the model's decision: an image shown earlier (as an example in
    practice, a task or an attention check) is never a later test image of that participant,
    and a tested image is never an example anywhere in the plan."""
    assets = sim_assets()
    study = create_study(
        researcher,
        assets,
        protocol="simulation",
        configuration={"tasks": 6},
        flow={"practice_trials": 2, "attention_checks": 2},
    )
    report = simulate(study, n=12, seed=11)
    assert report.outcomes == {"complete": 12}, report.summary()
    for participant in Participant.objects.filter(study=study):
        trials = list(participant.trials.order_by("index"))
        assert [t.kind for t in trials].count("practice") == 2
        assert [t.kind for t in trials].count("main") == 6
        tests = [t.shown["test"]["image"]["asset"] for t in trials if t.kind != "attention"]
        assert len(set(tests)) == len(tests)
        seen: set[str] = set()
        for trial in trials:
            examples = {ex["image"]["asset"] for ex in trial.shown["examples"]}
            test = trial.shown["test"]["image"]["asset"]
            if trial.kind != "attention":
                assert test not in seen, f"trial {trial.index}: its test image was shown before"
            assert not examples & set(tests), f"trial {trial.index}: an example is a test image"
            seen |= examples | {test}


def test_tasks_stop_rather_than_test_an_image_already_shown():
    """Two classes of three images: the first task shows four of them, one is left to test, and
    the images then run out; no further task reuses an image (fewer tasks, as documented)."""
    from studies.protocols._selection import Exposure

    items = [item(1, 0, 0), item(2, 0, 1), item(3, 0, 0), item(4, 1, 0), item(5, 1, 1)]
    items += [item(6, 1, 1)]
    pools = [d.pool for d in diagnose(items, Rule("top1")) if d.pool is not None]
    exposure = Exposure()
    tasks = draw_tasks(pools, 5, Rule("top1"), random.Random(0), exposure)
    assert 1 <= len(tasks) < 5
    shown: set[int] = set()
    for task in tasks:
        assert task.test.pk not in shown
        shown |= {e.pk for e in task.examples.values()} | {task.test.pk}
    assert exposure.shown == shown and exposure.tested == {t.test.pk for t in tasks}


def test_target_classes_are_named_as_the_classifier_names_them(researcher, media_root):
    """Image labels spelled otherwise ("ZEBRA!") do not leak into the task's target name."""
    from .conftest import CLASS_NAMES

    assets = sim_assets(spell_label=lambda n: n.upper() + "!")
    study = create_study(researcher, assets, protocol="simulation", configuration={"tasks": 4})
    simulate(study, n=1, seed=2)
    trials = Trial.objects.filter(participant__study=study, kind="main")
    assert trials.count() == 4
    for trial in trials:
        assert trial.shown["target"] == CLASS_NAMES[trial.hidden["target"]]
        assert trial.hidden["target_label"] == trial.shown["target"]


def ranked_item(pk: int, truth: int, top: tuple[int, ...]) -> StimulusItem:
    """An image of class ``truth`` whose five most likely classes are ``top``."""
    return StimulusItem(
        pk=pk,
        item_id=f"i{pk}",
        image=f"images/{pk}.png",
        label=f"c{truth}",
        label_index=truth,
        predicted=top[0],
        predicted_label=f"c{top[0]}",
        correct=truth == top[0],
        top_classes=top,
        top_labels=tuple(f"c{c}" for c in top),
        top_probabilities=(0.4, 0.3, 0.15, 0.1, 0.05),
        maps={},
    )


def test_score_tables_agree_with_the_outcome_under_a_top_k_rule():
    """ "Recognised = among the top 5" with 3 scores shown: a true positive whose target is the
    model's 4th guess must not read "recognised" above a table that lacks the target."""
    from studies.protocols.base import ConditionSpec, PlanContext

    protocol = get_protocol("simulation")
    config = protocol.validate_config(
        {"tasks": 1, "recognised_if": "top_k", "top_k": 5, "scores_shown_top": 3},
        methods=["m"],
    )
    items = [  # target c0; negatives from c1
        ranked_item(1, 0, (1, 2, 3, 0, 4)),  # TP: c0 is the 4th guess
        ranked_item(2, 0, (2, 3, 1, 0, 4)),  # TP
        ranked_item(3, 0, (1, 2, 3, 4, 5)),  # FN: c0 not ranked at all
        ranked_item(4, 1, (1, 2, 3, 4, 0)),  # FP: c0 is the 5th guess
        ranked_item(5, 1, (1, 2, 3, 4, 5)),  # TN
        ranked_item(6, 1, (2, 1, 3, 4, 5)),  # TN
    ]
    ctx = PlanContext(
        config=config,
        methods=["m"],
        stimuli=items,
        condition=ConditionSpec("scores", {"saliency_shown": False, "scores_shown": True}),
        rng=random.Random(3),
        participant_code="p",
    )
    (trial,) = protocol.plan(ctx)
    shown = trial.shown
    for name, example in zip(OUTCOMES, shown["examples"], strict=True):
        rows = example["scores"]
        assert [r["rank"] for r in rows[:3]] == [1, 2, 3]
        (own,) = [r for r in rows if r["target"]]  # the target's row is always there, once
        assert own["label"] == "c0"
        recognised = own["rank"] is not None and own["rank"] <= 5
        assert recognised == (name in ("TP", "FP")), (name, rows)
        assert example["caption"].startswith(
            "The system recognised" if recognised else "The system did not recognise"
        )
        if own["rank"] is None:
            assert own["percent"] == "not in its top 5" and own["gap"]
        elif own["rank"] > 3:
            assert rows[-1] is own and own["gap"] and len(rows) == 4
    assert shown["examples"][0]["scores"][-1] == {
        "rank": 4,
        "label": "c0",
        "percent": "10%",
        "target": True,
        "gap": True,
    }
    # the rule itself, in the instructions and beside the examples
    assert shown["rule"] == "It recognises “c0” when “c0” is among its 5 most likely guesses."
    assert "among its 5 most likely guesses" in protocol.instructions(config)
    assert "its first guess" in protocol.instructions(protocol.validate_config({}, methods=["m"]))
