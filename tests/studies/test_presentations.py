"""A study's presentation: chosen in the designer, rendered on the CPU queue before launch,
frozen into the stimuli, shown to participants, exported and analysed as a condition factor."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from django.core.files.storage import default_storage
from django.test import Client

from analysis import analyze
from explainers.core.render import DEFAULT, LEGACY, PRESETS
from explainers.models import Image, MapRender
from studies.bots import ResponseModel, simulate
from studies.errors import StimuliMissing
from studies.export import StudyExport
from studies.models import Participant, Study, Trial
from studies.presentations import study_presentations, validate_presentations
from studies.services.studies import study_transition
from studies.spec import spec_parse, study_spec

from .conftest import create_study
from .helpers import arrive, walk_to_trials

pytestmark = pytest.mark.django_db


# --- validation ---------------------------------------------------------------------------------


def test_presentations_default_preset_names_and_custom_settings():
    assert validate_presentations(None) == ([{"name": "default", **DEFAULT.to_dict()}], [])
    assert validate_presentations("legacy") == ([{"name": "legacy", **LEGACY.to_dict()}], [])
    custom, errors = validate_presentations([{"name": "soft", "preset": "default", "opacity": 0.3}])
    assert not errors and custom[0]["name"] == "soft" and custom[0]["opacity"] == 0.3
    assert custom[0]["scaling"] == DEFAULT.scaling  # the rest is the preset's


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "a list of 1 to 4"),
        (["default", "default"], "named twice"),
        (["default", "legacy", "default", "legacy", "default"], "at most 4"),
        ("no_such_preset", "unknown preset 'no_such_preset'"),
        ([{"name": "bad name!"}], "letters, digits"),
        ([{"name": "x", "opacity": 7}], "opacity"),
        ([{"name": "x", "no_such_setting": 1}], "no_such_setting"),
        ([3], "expected a preset name or an object"),
    ],
)
def test_bad_presentations_are_refused_naming_the_problem(value, message):
    clean, errors = validate_presentations(value)
    assert clean == [] and errors and message in " ".join(errors)


def test_bad_presentation_in_a_design_is_a_field_error_and_stores_nothing(researcher, assets):
    from studies.configschema import ConfigError

    with pytest.raises(ConfigError) as caught:
        create_study(
            researcher,
            assets,
            state=None,
            stimuli={"methods": list(assets.methods), "presentations": ["nope"]},
        )
    assert "stimuli.presentations" in caught.value.errors
    assert not Study.objects.exists()


# --- rendering before launch --------------------------------------------------------------------


def test_launch_is_refused_until_the_stimuli_are_rendered_then_renders_start(
    researcher, assets, django_capture_on_commit_callbacks
):
    study = create_study(
        researcher,
        assets,
        state=None,
        stimuli={"methods": list(assets.methods), "presentations": ["signed"]},
    )
    assert not MapRender.objects.filter(presentation_key=PRESETS["signed"].key).exists()
    with pytest.raises(StimuliMissing) as refused:
        study_transition(study=study, actor=researcher, action="launch")
    message = str(refused.value)
    assert "of presentation 'signed' are rendered" in message and "0 of " in message
    study.refresh_from_db()
    assert study.state == "draft" and not study.stimuli.exists()
    # the refusal queued the renders (CPU queue; in-process here): now it launches
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(StimuliMissing):
        study_transition(study=study, actor=researcher, action="launch")
    made = MapRender.objects.filter(presentation_key=PRESETS["signed"].key)
    assert made.count() > 0 and all(default_storage.exists(r.image.name) for r in made)
    study = study_transition(study=study, actor=researcher, action="launch")
    assert study.state == "live"
    names = {
        ref["overlay"]
        for s in study.stimuli.all()
        for per in s.data["maps"].values()
        for ref in per.values()
    }
    assert names == {r.image.name for r in made}


def test_a_draft_requests_its_renders_when_it_is_created(
    researcher, assets, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        study = create_study(
            researcher,
            assets,
            state=None,
            stimuli={"methods": list(assets.methods), "presentations": ["mask"]},
        )
    assert study_transition(study=study, actor=researcher, action="launch").state == "live"


# --- participants see the chosen presentation ---------------------------------------------------


def test_participant_trials_show_the_default_renders_and_its_legend(likert_study):
    client = Client()
    url, _ = arrive(client, likert_study)
    participant = walk_to_trials(client, url)
    trial = participant.trials.filter(kind="main").first()
    default_files = set(
        MapRender.objects.filter(presentation_key=DEFAULT.key).values_list("image", flat=True)
    )
    photos = set(Image.objects.values_list("file", flat=True))  # every shown file is under s/
    shown = {name for name in trial.assets.values() if name not in photos}
    assert shown and shown <= default_files
    assert trial.shown["legend"] == {
        "kind": "bar",
        "cmap": DEFAULT.cmap,
        "labels": ["less important", "more important"],
        "scale": ["low", "high"],
    }
    page = client.get(url)
    assert f"?cmap={DEFAULT.cmap}" in page.text and "more important" in page.text


def _factor_study(researcher, assets, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the draft's renders are made
        study = create_study(
            researcher,
            assets,
            state=None,
            stimuli={"methods": list(assets.methods), "presentations": ["default", "legacy"]},
        )
    return study_transition(study=study, actor=researcher, action="launch")


def test_presentation_as_a_between_subjects_factor_crosses_the_conditions(
    researcher, assets, django_capture_on_commit_callbacks
):
    study = _factor_study(researcher, assets, django_capture_on_commit_callbacks)
    conditions = list(study.conditions.order_by("position"))
    assert [c.name for c in conditions] == [
        "order 1 / default",
        "order 1 / legacy",
        "order 2 / default",
        "order 2 / legacy",
    ]
    assert {c.factors["presentation"] for c in conditions} == {"default", "legacy"}
    files = {
        name: set(MapRender.objects.filter(presentation_key=p.key).values_list("image", flat=True))
        for name, p in study_presentations(study.stimuli_selection)
    }
    assert files["default"] and files["legacy"] and not files["default"] & files["legacy"]
    for k in range(4):  # balanced assignment: each presentation twice
        client = Client()
        url, _ = arrive(client, study, PROLIFIC_PID=f"pp{k}")
        participant = walk_to_trials(client, url)
        level = participant.condition.factors["presentation"]
        shown = {
            name
            for t in participant.trials.filter(kind=Trial.Kind.MAIN)
            for name in t.assets.values()
            if name not in set(Image.objects.values_list("file", flat=True))
        }
        assert shown and shown <= files[level], level
        legacy_legend = {"kind": "bar", "cmap": "viridis"}.items()
        legend = participant.trials.filter(kind=Trial.Kind.MAIN).first().shown["legend"]
        assert legacy_legend <= legend.items() or level == "default"


def test_two_presentations_exported_and_analysed_as_a_condition_factor(
    researcher, assets, django_capture_on_commit_callbacks
):
    study = _factor_study(researcher, assets, django_capture_on_commit_callbacks)
    simulate(
        study,
        n=16,
        seed=3,
        model=ResponseModel(
            effects={"gradcam": 0.5}, condition_effects={"presentation=legacy": -1.5}
        ),
    )
    export = StudyExport(study)
    table = pd.read_csv(io.StringIO(export.responses_csv()), na_values=["NA"])
    assert set(table["presentation"]) == {"default", "legacy"}
    per_person = table.groupby("participant_id")["presentation"].nunique()
    assert (per_person == 1).all()
    package = export.datapackage()
    fields = {f["name"]: f for f in package["resources"][0]["schema"]["fields"]}
    description = fields["presentation"]["description"]
    assert "Condition factor" in description and LEGACY.describe() in description
    assert fields["presentation"]["constraints"]["enum"] == ["default", "legacy"]
    participants = pd.read_csv(io.StringIO(export.participants_csv()), na_values=["NA"])
    assert set(participants["presentation"]) == {"default", "legacy"}

    result = analyze("likert", table, n_boot=50, plots=False)
    rows = result.results.set_index(["analysis", "term"])
    factor = rows.loc[("factor:presentation", "presentation: default vs legacy")]
    assert factor["estimate"] > 0.5 and factor["p"] < 0.05  # legacy maps were rated lower
    clmm = rows.loc[("clmm", "presentation[legacy]")]
    assert clmm["estimate"] < 0 and clmm["ci_high"] < 0
    assert ("clmm", "method[occlusion]") in rows.index


def test_one_presentation_is_named_on_every_row(likert_study):
    simulate(likert_study, n=2, seed=1)
    table = pd.read_csv(io.StringIO(StudyExport(likert_study).responses_csv()))
    assert set(table["presentation"]) == {"default"}
    result = analyze("likert", table, n_boot=20, plots=False)
    assert not result.results["analysis"].str.startswith("factor:").any()


# --- the study file -----------------------------------------------------------------------------


def test_study_file_round_trips_the_presentations(
    researcher, assets, django_capture_on_commit_callbacks
):
    study = _factor_study(researcher, assets, django_capture_on_commit_callbacks)
    spec = json.loads(json.dumps(study_spec(study)))
    assert [p["name"] for p in spec["stimuli"]["presentations"]] == ["default", "legacy"]
    _, _, design = spec_parse(spec, user=researcher)
    assert design.stimuli["presentations"] == study.stimuli_selection["presentations"]


def test_a_study_from_before_presentations_keeps_the_legacy_convention(researcher, assets):
    study = create_study(researcher, assets, state=None)
    selection = dict(study.stimuli_selection)
    del selection["presentations"]  # as stored before presentations existed
    Study.objects.filter(pk=study.pk).update(stimuli_selection=selection)
    study.refresh_from_db()
    assert study_presentations(study.stimuli_selection) == [("legacy", LEGACY)]
    spec = study_spec(study)
    assert spec["stimuli"]["presentations"] == [{"name": "legacy", **LEGACY.to_dict()}]


def test_designer_offers_presets_a_custom_presentation_and_a_factor(researcher, assets):
    from .test_researcher import form_data

    client = Client()
    client.force_login(researcher)
    page = client.get("/studies/new/?protocol=likert")
    assert page.status_code == 200
    assert 'id="presentation-preview"' in page.text and "presentation_preview.js" in page.text
    data = form_data(assets)
    data.update(
        presentation="custom",
        pres_scaling="percentile",
        pres_percentile="1.5",
        pres_sign="absolute",
        pres_smoothing="0.01",
        pres_composition="saliency_opacity",
        pres_opacity="0.6",
        pres_top_k="20",
        pres_cmap="magma",
        compare_presentations=["legacy"],
    )
    response = client.post("/studies/new/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    study = Study.objects.get()
    first, second = study.stimuli_selection["presentations"]
    assert first["name"] == "custom" and first["percentile"] == 1.5 and first["cmap"] == "magma"
    assert second == {"name": "legacy", **LEGACY.to_dict()}
    detail = client.get(f"/studies/{study.uid}/")
    assert "between-subjects factor" in detail.text and "magma" in detail.text
    bad = form_data(assets)
    bad.update(presentation="custom", pres_opacity="3")
    refused = client.post("/studies/new/", bad)
    assert refused.status_code == 400 and Study.objects.count() == 1


def test_preview_sample_lists_one_map_per_method_drawn_by_query(researcher, assets):
    client = Client()
    client.force_login(researcher)
    reply = client.get(
        "/gallery/sample.json",
        {
            "classifier": assets.classifier.pk,
            "image_set": assets.image_set.pk,
            "methods": ",".join([*assets.methods, "rise"]),
        },
    )
    data = reply.json()
    assert [m["method"] for m in data["maps"]] == list(assets.methods)
    assert data["missing"] == ["rise"]
    drawn = client.get(data["maps"][0]["url"] + "?preset=mask")
    assert drawn.status_code == 200 and drawn.content.startswith(b"\x89PNG")
    stranger = Client()
    assert stranger.get("/gallery/sample.json").status_code == 302  # login first
    assert Participant.objects.count() == 0
