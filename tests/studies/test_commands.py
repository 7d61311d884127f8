"""create_study and simulate_participants: the command-line way to share and run studies."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from studies.models import Participant, Study
from studies.spec import study_spec

from .conftest import create_study

pytestmark = pytest.mark.django_db


def test_study_json_round_trip_through_create_study(tmp_path: Path, researcher, likert_study):
    spec = study_spec(likert_study)
    path = tmp_path / "study.json"
    path.write_text(json.dumps(spec))
    out = io.StringIO()
    call_command("create_study", str(path), "--owner", "ada", "--launch", "launch", stdout=out)
    created = Study.objects.get(uid=out.getvalue().strip())
    assert created.pk != likert_study.pk and created.owner == researcher
    assert created.state == "live"
    again = study_spec(created)
    for key in ("protocol", "configuration", "flow", "stimuli", "conditions"):
        assert again[key] == spec[key], key


def test_create_study_reports_every_problem_and_creates_nothing(tmp_path: Path, researcher, assets):
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "title": "x",
                "protocol": "likert",
                "configuration": {"points": 12},
                "flow": {"timeout_minutes": 0},
                "stimuli": {"classifier": "missing", "image_set": "animals", "methods": []},
            }
        )
    )
    with pytest.raises(CommandError) as caught:
        call_command("create_study", str(path), "--owner", "ada")
    message = str(caught.value)
    for expected in (
        "stimuli.classifier",
        "stimuli.methods",
        "configuration.points",
        "flow.timeout_minutes",
    ):
        assert expected in message
    assert not Study.objects.exists()
    path.write_text("{not json")
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("create_study", str(path), "--owner", "ada")


def test_create_study_owner_defaults_to_the_only_superuser(tmp_path: Path, likert_study):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(study_spec(likert_study)))
    with pytest.raises(CommandError, match="--owner"):
        call_command("create_study", str(path))
    admin = get_user_model().objects.create_superuser("root", password="x" * 12)
    out = io.StringIO()
    call_command("create_study", str(path), stdout=out)
    assert Study.objects.get(uid=out.getvalue().strip()).owner == admin


def test_simulate_participants_command(likert_study):
    out = io.StringIO()
    call_command(
        "simulate_participants",
        str(likert_study.uid),
        "--n",
        "3",
        "--seed",
        "4",
        "--effects",
        "gradcam=1",
        "--attention-fail-rate",
        "0.5",
        stdout=out,
    )
    assert "3 sessions (3 complete)" in out.getvalue()
    # those who failed an attention check are excluded at completion by the declared rule
    finished = Participant.objects.filter(study=likert_study, completed_at__isnull=False)
    assert finished.count() == 3


def test_simulate_participants_refuses_a_draft(researcher, assets):
    study = create_study(researcher, assets, state=None)
    with pytest.raises(CommandError, match="pilot or live"):
        call_command("simulate_participants", str(study.uid), "--n", "1")
    with pytest.raises(CommandError, match="no study"):
        call_command("simulate_participants", "nope", "--n", "1")
    with pytest.raises(CommandError, match="METHOD=NUMBER"):
        call_command("simulate_participants", str(study.pk), "--effects", "gradcam")


def test_bots_decline_and_abandon(likert_study):
    from studies.bots import ResponseModel, simulate

    report = simulate(likert_study, n=4, seed=9, model=ResponseModel(decline_rate=1.0))
    assert report.outcomes == {"screened_out": 4}
    report = simulate(likert_study, n=2, seed=10, model=ResponseModel(abandon_rate=1.0))
    assert report.outcomes == {"abandoned": 2}
    # the same recruiter ids again: they resume their (ended) sessions, no new participants
    report = simulate(likert_study, n=4, seed=9)
    assert report.outcomes == {"screened_out": 4}
    assert likert_study.participants.count() == 6


def test_demo_content_opens_one_study_per_protocol_with_bot_data_once(db, media_root):
    from studies.demo import load
    from studies.protocols import protocols

    from .conftest import make_assets

    assert "no demo researcher" in load()[0]
    get_user_model().objects.create_user("researcher")
    assert "no image set" in load()[0]
    make_assets(n_images=6, targets=("predicted",))
    lines = load()
    assert len(lines) == len(protocols()) == 4
    # six synthetic images have no false negatives: the simulation study says why it is not open
    opened = [line for line in lines if "{base}/take/" in line]
    (refused,) = [line for line in lines if line not in opened]
    assert refused.startswith("Studies demo: simulation study not opened: this image set cannot")
    live = Study.objects.filter(state="live")
    assert sorted(live.values_list("protocol", flat=True)) == sorted(
        ["likert", "preference", "gt_prediction"]
    )
    for study in live:
        assert study.participants.count() == 6, study.protocol
        assert study.participants.filter(state="completed").exists(), study.protocol
    assert load() == lines and Participant.objects.count() == 18


def test_create_study_refuses_an_unknown_method(tmp_path: Path, likert_study):
    document = study_spec(likert_study)
    document["stimuli"]["methods"] = ["gradcam", "no_such_method"]
    path = tmp_path / "s.json"
    path.write_text(json.dumps(document))
    before = Study.objects.count()
    with pytest.raises(CommandError) as caught:
        call_command("create_study", str(path), "--owner", "ada")
    assert "stimuli.methods" in str(caught.value)
    assert "unknown method(s): no_such_method (known: " in str(caught.value)
    assert Study.objects.count() == before
