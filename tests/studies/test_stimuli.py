"""Stimuli selection against precomputed maps, and the append-only event log."""

from __future__ import annotations

import pytest

from studies.configschema import ConfigError
from studies.errors import StimuliMissing
from studies.models import Event
from studies.protocols import get_protocol
from studies.services.studies import design_validate, study_stimuli_freeze
from studies.stimuli import check_stimuli, validate_selection

from .conftest import create_study, make_assets

pytestmark = pytest.mark.django_db


def run_check(assets, protocol="likert", config=None, **selection):
    plugin = get_protocol(protocol)
    clean = validate_selection({"methods": list(assets.methods), **selection}, protocol=plugin)
    return check_stimuli(
        classifier=assets.classifier,
        image_set=assets.image_set,
        selection=clean,
        protocol=plugin,
        config=plugin.validate_config(config or {}, methods=clean["methods"]),
    )


def test_selection_by_classification_outcome(assets):
    assert len(run_check(assets, images="all").items) == 8
    wrong = run_check(assets, images="misclassified")
    right = run_check(assets, images="correct")
    assert len(wrong.items) == len(right.items) == 4
    assert all(item["correct"] is False for item in wrong.items)
    assert all(set(item["maps"]["gradcam"]) == {"predicted", "truth"} for item in wrong.items)
    assert all(set(item["maps"]["gradcam"]) == {"predicted"} for item in right.items)


def test_seeded_sample_is_reproducible_and_ordered_by_content_hash(assets):
    one = [i["item_id"] for i in run_check(assets, images="all", sample=3, seed=7).items]
    two = [i["item_id"] for i in run_check(assets, images="all", sample=3, seed=7).items]
    other = [i["item_id"] for i in run_check(assets, images="all", sample=3, seed=8).items]
    assert one == two and len(one) == 3 and one == sorted(one) and other != one


def test_missing_truth_maps_are_reported_per_method_and_target(db, media_root):
    partial = make_assets(targets=("predicted",))
    check = run_check(partial, images="misclassified")
    assert not check.ok
    assert check.missing_maps == {"gradcam": {"truth": 4}, "occlusion": {"truth": 4}}
    assert "4 map(s) of gradcam for the truth class are not precomputed" in check.messages()
    # the single-map variant needs no truth maps
    assert run_check(partial, images="misclassified", config={"variant": "single_map"}).ok


def test_missing_predictions_and_empty_selections(db, media_root, researcher):
    partial = make_assets(misclassified=lambda k: False)
    check = run_check(partial, images="misclassified")
    assert check.problems == ["no image of 'animals' matches 'misclassified'"]
    study = create_study(researcher, partial, state=None)
    with pytest.raises(StimuliMissing, match="no image"):
        study_stimuli_freeze(study=study)
    assert not study.stimuli.exists()


def test_within_design_needs_as_many_images_as_methods(db, media_root):
    few = make_assets(n_images=2, methods=("gradcam", "occlusion", "integrated_gradients"))
    check = run_check(few, images="all")
    assert "needs at least 3 images" in " ".join(check.problems)


def test_selection_validation_messages(assets, researcher):
    with pytest.raises(ConfigError) as caught:
        design_validate(
            protocol="likert",
            configuration={},
            flow={},
            stimuli={"methods": ["gradcam", "gradcam"], "images": "some", "sample": 0},
            classifier=assets.classifier,
            image_set=assets.image_set,
            user=researcher,
        )
    errors = caught.value.errors
    assert "must be one of all, misclassified, correct" in errors["stimuli.images"][0]
    assert "at least 1" in errors["stimuli.sample"][0]


def test_events_are_append_only(likert_study):
    event = Event.objects.filter(study=likert_study).first()
    assert event is not None
    event.kind = "rewritten"
    with pytest.raises(TypeError, match="append-only"):
        event.save()
    with pytest.raises(TypeError, match="append-only"):
        event.delete()
    with pytest.raises(TypeError, match="append-only"):
        Event.objects.filter(study=likert_study).update(kind="x")
    with pytest.raises(TypeError, match="append-only"):
        Event.objects.filter(study=likert_study).delete()
    kinds = list(Event.objects.filter(study=likert_study).values_list("kind", flat=True))
    assert kinds == [
        "study.created",
        "stimuli.frozen",
        "preregistration.frozen",
        "study.state_changed",
    ]


def test_a_study_with_participants_can_be_deleted_with_its_data(likert_study):
    from studies.bots import simulate
    from studies.models import Participant, Response, Stimulus

    simulate(likert_study, n=2, seed=0)
    likert_study.delete()
    assert not Participant.objects.exists() and not Response.objects.exists()
    assert not Stimulus.objects.exists() and not Event.objects.exists()
