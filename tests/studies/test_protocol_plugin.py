"""A protocol is one plug-in: registered from here, without editing any other file, it runs end
to end (design, participant flow, export, ``python -m analysis``, results page); and each
built-in protocol declares exactly the analyses its pipeline produces."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from django.test import Client

import analysis
from analysis import synthetic
from analysis.__main__ import main as analysis_main
from analysis.effect_sizes import wilson_interval
from analysis.protocols._common import Options, ProtocolOutput
from analysis.registry import (
    COMMON_ANALYSES,
    AnalysisProtocol,
    analysis_protocols,
    register,
    unregister,
)
from analysis.results import Row
from analysis.table import PreparedTable
from studies.configschema import Schema
from studies.export import StudyExport
from studies.models import Response
from studies.protocols import base as study_protocols
from studies.protocols.base import (
    Column,
    PlanContext,
    PlannedTrial,
    Protocol,
    ResponseError,
)
from tests.studies.conftest import create_study
from tests.studies.helpers import arrive, finish, walk_to_trials

TOY = "toy_agreement"
TEMPLATES = Path(__file__).parent / "plugin_templates"


class ToyAgreement(Protocol):
    """One map per trial: does it show the object? (yes = 1, no = 0)."""

    name = TOY
    label = "Agreement (toy)"
    schema = Schema(())

    def plan(self, ctx: PlanContext) -> list[PlannedTrial]:
        trials = []
        for i, item in enumerate(ctx.stimuli):
            method = ctx.methods[i % len(ctx.methods)]
            trials.append(self._trial(ctx, item, method))
        return trials

    def _trial(self, ctx: PlanContext, item: Any, method: str) -> PlannedTrial:
        shown = {
            "question": "Does the coloured region show the object?",
            "images": [{"asset": ctx.asset(item.map(method).overlay), "caption": "Explanation"}],
            "options": [{"value": "1", "label": "Yes"}, {"value": "0", "label": "No"}],
        }
        return PlannedTrial("main", shown, {"method": method}, item)

    def attention_check(self, ctx: PlanContext) -> PlannedTrial:
        trial = self._trial(ctx, ctx.stimuli[0], ctx.methods[0])
        trial.kind = "attention"
        trial.shown["question"] = "This is an attention check: answer No."
        trial.hidden = {"expected": {"choice": 0}}
        return trial

    def validate_response(
        self, config: Mapping[str, Any], *, shown: Mapping[str, Any], value: Any
    ) -> dict[str, Any]:
        answer = str((value or {}).get("choice", "")).strip()
        if answer not in ("0", "1"):
            raise ResponseError("choose Yes or No")
        return {"choice": int(answer)}

    def export_columns(self, config: Mapping[str, Any]) -> list[Column]:
        return [
            Column("method", "string", "Method whose map was shown."),
            Column("agree", "integer", "1: the map shows the object; 0: it does not."),
        ]

    def export_rows(self, config, *, hidden, value, scored) -> list[dict[str, Any]]:
        return [{"method": hidden["method"], "agree": value["choice"]}]

    def simulate_response(self, config, *, shown, hidden, rng, effects) -> dict[str, Any]:
        return {"choice": int(rng.random() < 0.5)}


def _toy_pipeline(prepared: PreparedTable, options: Options) -> ProtocolOutput:
    """Share of "yes" per method with its Wilson 95 % interval."""
    out = ProtocolOutput()
    for method, part in prepared.data.groupby("method", sort=True):
        yes, n = int(part["agree"].sum()), len(part)
        low, high = wilson_interval(yes, n)
        out.builder.add(Row("agree_share", str(method), yes / n, low, high, n=n))
    return out


TOY_ANALYSIS = AnalysisProtocol(
    id=TOY,
    title="Agreement with the map (toy)",
    columns=(
        analysis.Column("method", "label"),
        analysis.Column("agree", "binary", response=True),
    ),
    run=_toy_pipeline,
    analyses=("agree_share",),
    key_analyses=("agree_share",),
    power_design="two_proportions",
)


@pytest.fixture
def toy_protocol(settings):
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], TEMPLATES]}
    ]
    study_protocols.register(ToyAgreement)
    register(TOY_ANALYSIS)
    yield
    study_protocols._REGISTRY.pop(TOY, None)
    unregister(TOY)


@pytest.mark.django_db
def test_a_protocol_registered_from_a_test_runs_end_to_end(
    toy_protocol, researcher, assets, tmp_path
):
    study = create_study(researcher, assets, protocol=TOY)
    answers: list[int] = []
    for _ in range(3):
        client = Client()
        url, response = arrive(client, study)
        assert response.status_code == 302, response.content[:300]
        walk_to_trials(client, url)
        trial_page = client.get(url).content.decode()
        assert "Does the coloured region show the object?" in trial_page
        assert 'name="choice" value="1"' in trial_page
        participant = finish(client, url)
        assert participant.page == "complete"
        answers += [r.value["choice"] for r in Response.objects.filter(participant=participant)]
    assert answers and set(answers) <= {0, 1}

    tidy = pd.read_csv(io.StringIO(StudyExport(study).responses_csv()), na_values=["NA"])
    assert {"method", "agree"} <= set(tidy.columns)
    assert (
        len(tidy) == Response.objects.filter(participant__study=study, trial__kind="main").count()
    )

    csv = tmp_path / "tidy.csv"
    tidy.to_csv(csv, index=False)
    assert analysis_main([TOY, str(csv), "--out", str(tmp_path / "out"), "--n-boot", "10"]) == 0
    results = pd.read_csv(tmp_path / "out" / "results.csv")
    share = results[results["analysis"] == "agree_share"].set_index("term")
    expected = tidy.groupby("method")["agree"].mean()
    assert share["estimate"].to_dict() == pytest.approx(expected.to_dict())
    assert "Agreement with the map (toy)" in (tmp_path / "out" / "report.html").read_text()

    researcher_client = Client()
    researcher_client.force_login(researcher)
    page = researcher_client.get(f"/studies/{study.uid}/results/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "agree_share" in text
    for method in expected.index:
        assert method in text


def _scenarios(protocol: str) -> list[pd.DataFrame]:
    """Synthetic tables that between them take every branch of a built-in pipeline."""
    table = getattr(synthetic, f"{protocol}_study")(seed=1)
    tables = [table]
    if protocol == "likert":  # between subjects: one method per participant
        methods = sorted(table["method"].unique())
        person = table["participant_id"].astype("category").cat.codes
        tables.append(table[table["method"] == person.map(lambda p: methods[p % len(methods)])])
    if protocol == "gt_prediction":  # methods named instead of explanation_shown
        named = table.drop(columns="explanation_shown")
        methods = table["explanation_shown"].map({0: "none", 1: "gradcam"})
        alt = table["item_id"].astype("category").cat.codes % 2 == 1
        tables.append(named.assign(method=methods.where(~alt | (methods == "none"), "rise")))
        tables.append(table.assign(explanation_shown=table["trial_index"] % 2))  # within
        rng = np.random.default_rng(3)  # the model's prediction shown: reliance
        model_correct = rng.integers(0, 2, len(table))
        agrees = np.where(rng.random(len(table)) < 0.7, model_correct, 1 - model_correct)
        tables.append(table.assign(model_correct=model_correct, agrees_with_model=agrees))
    return tables


@pytest.mark.parametrize("protocol", ["likert", "preference", "simulation", "gt_prediction"])
def test_each_protocol_declares_the_analyses_its_pipeline_produces(protocol):
    declared = analysis_protocols()[protocol]
    produced: set[str] = set()
    for table in _scenarios(protocol):
        result = analysis.analyze(protocol, table, plots=False, n_boot=20)
        produced |= set(result.results["analysis"])
    produced -= set(COMMON_ANALYSES)
    assert sorted(produced) == sorted(declared.analyses)


def test_a_second_protocol_with_the_same_id_is_refused():
    with pytest.raises(RuntimeError, match="two analysis protocols"):
        register(
            AnalysisProtocol(
                id="likert",
                title="Another Likert",
                columns=(),
                run=_toy_pipeline,
                analyses=(),
                key_analyses=(),
                power_design="paired",
            )
        )


def test_unknown_protocol_names_the_registered_ones():
    with pytest.raises(analysis.TableError, match="likert"):
        analysis.validate_table("no_such_protocol", pd.DataFrame({"participant_id": [1]}))
