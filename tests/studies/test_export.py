"""Exports: tidy CSV the analysis package accepts, participant table, codebook, study JSON."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from django.core.management import call_command
from django.test import Client

from analysis.table import validate_table
from studies.bots import ResponseModel, simulate
from studies.export import StudyExport
from studies.models import Participant
from studies.services.participants import participant_exclude

from .conftest import create_study
from .helpers import arrive, walk_to_trials

pytestmark = pytest.mark.django_db


def read(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_export_study_command_writes_the_four_files(tmp_path: Path, likert_study):
    simulate(likert_study, n=3, seed=2, model=ResponseModel(effects={"gradcam": 1.0}))
    out = tmp_path / "export"
    stdout = io.StringIO()
    call_command("export_study", str(likert_study.uid), "--out", str(out), stdout=stdout)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["datapackage.json", "participants.csv", "responses.csv", "study.json"]
    rows = read((out / "responses.csv").read_text())
    assert len(rows) == 3 * 4  # 3 participants × 4 misclassified images
    assert {
        "participant_id",
        "item_id",
        "trial_index",
        "method",
        "rating",
        "condition",
        "latin_row",
        "excluded",
        "rt_ms",
    } <= set(rows[0])
    assert {r["method"] for r in rows} == {"gradcam", "occlusion"}
    assert all(r["rating"].isdigit() and r["excluded"] == "0" for r in rows)
    assert rows[0]["model_correct"] == "0" and rows[0]["shown_at"].startswith(
        "20"
    )  # bots view pages
    package = json.loads((out / "datapackage.json").read_text())
    fields = {f["name"]: f for f in package["resources"][0]["schema"]["fields"]}
    assert set(fields) == set(rows[0])
    assert fields["rating"]["type"] == "integer" and fields["rating"]["constraints"]["maximum"] == 5
    assert package["resources"][0]["schema"]["missingValues"] == ["NA"]
    participants = read((out / "participants.csv").read_text())
    assert [p["participant_id"] for p in participants] == ["P0001", "P0002", "P0003"]
    assert all(p["state"] == "completed" and p["attention_checks"] == "1" for p in participants)
    assert "recruiter_pseudonym" not in participants[0]
    spec = json.loads((out / "study.json").read_text())
    assert spec["protocol"] == "likert" and len(spec["stimuli"]["items"]) == 4


def test_likert_export_is_accepted_by_the_analysis_package(likert_study):
    simulate(likert_study, n=4, seed=5)
    table = pd.read_csv(
        io.StringIO(StudyExport(likert_study).responses_csv()),
        na_values=["NA"],
        keep_default_na=False,
    )
    prepared = validate_table("likert", table)
    assert prepared.n_participants == 4 and prepared.n_rows_excluded == 0


def test_preference_export_is_accepted_by_the_analysis_package(researcher, assets):
    study = create_study(
        researcher,
        assets,
        protocol="preference",
        stimuli={"methods": list(assets.methods), "images": "all"},
    )
    simulate(study, n=3, seed=1, model=ResponseModel(effects={"gradcam": 2.0}))
    text = StudyExport(study).responses_csv()
    rows = read(text)
    assert len(rows) == 3 * 8
    assert all(r["choice"] in (r["method_a"], r["method_b"]) for r in rows)
    assert {r["chosen_position"] for r in rows} <= {"1", "2"}
    prepared = validate_table(
        "preference", pd.read_csv(io.StringIO(text), na_values=["NA"], keep_default_na=False)
    )
    assert prepared.n_participants == 3


def test_exclusion_rules_and_researcher_exclusions_are_exported(researcher, assets):
    study = create_study(
        researcher,
        assets,
        flow={"exclude_attention_failures": 1, "exclude_median_rt_below_ms": 100000},
    )
    simulate(study, n=2, seed=3, model=ResponseModel(attention_fail_rate=1.0))
    # one participant who stopped early
    client = Client()
    url, _ = arrive(client, study)
    walk_to_trials(client, url)
    first = Participant.objects.get(study=study, number=1)
    participant_exclude(participant=first, actor=researcher, reason="reported a colour deficiency")
    export = StudyExport(study)
    rows = read(export.participants_csv())
    assert [r["excluded"] for r in rows] == ["1", "1", "1"]
    assert rows[0]["exclusion_reason"].startswith("reported a colour deficiency")
    assert "failed attention checks" in rows[1]["exclusion_reason"]
    assert "too fast" in rows[1]["exclusion_reason"]
    assert rows[2]["exclusion_reason"] == "incomplete" and rows[2]["state"] == "in_progress"
    responses = read(export.responses_csv())
    assert {r["excluded"] for r in responses} == {"1"}


def test_previews_never_and_pilots_only_on_request(researcher, assets):
    study = create_study(researcher, assets, state="pilot")
    simulate(study, n=2, seed=0)
    assert read(StudyExport(study).responses_csv()) == []
    rows = read(StudyExport(study, include_pilot=True).responses_csv())
    assert len(rows) == 8 and {r["pilot"] for r in rows} == {"1"}


def test_recruiter_pseudonyms_only_when_asked(tmp_path: Path, likert_study):
    simulate(likert_study, n=1, seed=0)
    call_command(
        "export_study",
        str(likert_study.uid),
        "--out",
        str(tmp_path),
        "--recruiter-ids",
        stdout=io.StringIO(),
    )
    row = read((tmp_path / "participants.csv").read_text())[0]
    assert len(row["recruiter_pseudonym"]) == 64
    assert row["recruiter_pseudonym"] == Participant.objects.get().recruiter_hash
