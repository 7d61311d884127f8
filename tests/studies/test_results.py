"""A study's results page and API: the analysis package on the study's own export, kept per
state of the data, computed by a worker for large studies, with plots and downloads."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from django.urls import reverse

import analysis
from explainers.models import FaithfulnessScore
from studies.bots import ResponseModel, simulate
from studies.export import StudyExport
from studies.models import AnalysisRun, Participant
from studies.services.analysis import analysis_request
from studies.services.participants import participant_exclude

from .conftest import create_study

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(client, researcher):
    client.force_login(researcher)
    return client


def results_url(study) -> str:
    return reverse("studies:results", args=[study.uid])


def file_url(run: AnalysisRun, name: str) -> str:
    return reverse("studies:results-file", args=[run.study.uid, run.uid, name])


def test_results_page_shows_the_analysis_of_the_export_with_plots_and_downloads(ada, likert_study):
    simulate(likert_study, n=6, seed=3, model=ResponseModel(effects={"gradcam": 1.5}))
    page = ada.get(results_url(likert_study))
    assert page.status_code == 200
    run = AnalysisRun.objects.get(study=likert_study)
    assert run.state == "done", run.error
    assert run.n_participants == 6 and run.n_responses == 6 * 4
    html = page.content.decode()
    for caption in ("clmm", "friedman", "wilcoxon", "krippendorff_alpha"):
        assert f"<caption>{caption}</caption>" in html
    assert "likert_ratings" in run.plots
    assert f'src="{file_url(run, "likert_ratings.png")}"' in html
    assert f'<a href="{file_url(run, "likert_ratings.png")}" target="_blank"' in html  # full size

    # the same numbers as the analysis package on the downloaded export
    text = StudyExport(likert_study).responses_csv()
    direct = analysis.analyze(
        "likert", pd.read_csv(io.StringIO(text), na_values=["NA"]), plots=False
    )
    downloaded = ada.get(file_url(run, "results.csv"))
    assert downloaded.status_code == 200 and downloaded["Content-Type"].startswith("text/csv")
    table = pd.read_csv(io.BytesIO(downloaded.content), na_values=["NA"])
    assert list(table.columns) == list(analysis.RESULT_COLUMNS)
    pd.testing.assert_frame_equal(
        table[["analysis", "term", "estimate", "p"]],
        direct.results[["analysis", "term", "estimate", "p"]].reset_index(drop=True),
        check_dtype=False,
        atol=1e-9,
    )
    clmm = table[(table.analysis == "clmm") & (table.term == "method[occlusion]")]
    assert float(clmm.estimate.iloc[0]) < 0  # gradcam rated higher by the bots

    plot = ada.get(file_url(run, "likert_ratings.png"))
    assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")
    report = ada.get(file_url(run, "report.html"))
    assert report.status_code == 200 and b"clmm" in report.content
    assert ada.get(file_url(run, "report.html") + "/../../study.json").status_code == 404
    assert ada.get(file_url(run, "..%2F..%2Fsecret.png")).status_code == 404
    assert ada.get(file_url(run, "nonexistent.png")).status_code == 404


def test_results_are_kept_until_the_data_change(ada, likert_study):
    simulate(likert_study, n=4, seed=1)
    ada.get(results_url(likert_study))
    ada.get(results_url(likert_study))
    assert AnalysisRun.objects.filter(study=likert_study).count() == 1

    simulate(likert_study, n=1, seed=9)  # a new participant: a new analysis
    ada.get(results_url(likert_study))
    runs = list(AnalysisRun.objects.filter(study=likert_study).order_by("pk"))
    assert [r.n_participants for r in runs] == [4, 5]

    participant = Participant.objects.filter(study=likert_study).first()
    participant_exclude(participant=participant, actor=None, reason="bot-like answers")
    ada.get(results_url(likert_study))
    latest = AnalysisRun.objects.filter(study=likert_study).order_by("pk").last()
    assert latest.n_participants == 5  # exported with excluded = 1, dropped by the analysis
    excluded = [r for r in latest.results if r["term"] == "excluded_responses"]
    assert excluded and excluded[0]["estimate"] == 4


def test_a_change_of_the_analysis_code_computes_the_results_again(likert_study, monkeypatch):
    from studies.services.analysis import analysis_stamp

    simulate(likert_study, n=4, seed=2)
    first = analysis_request(likert_study)
    assert first is not None and first.state == "done"
    assert analysis_request(likert_study).pk == first.pk  # same data, same code: kept

    # the same data analysed by changed statistical code (same __version__): a new run
    monkeypatch.setattr(analysis, "source_hash", lambda: "0" * 64)
    assert analysis.__version__ == first.versions["analysis"]
    assert analysis_stamp(likert_study)[0] != first.data_stamp
    second = analysis_request(likert_study)
    assert second is not None and second.pk != first.pk and second.state == "done"
    assert AnalysisRun.objects.filter(study=likert_study).count() == 2


def test_no_responses_yet_is_an_empty_state_and_stores_nothing(ada, likert_study):
    page = ada.get(results_url(likert_study))
    assert page.status_code == 200
    assert "No responses yet" in page.content.decode()
    assert not AnalysisRun.objects.exists()
    assert ada.get(f"/api/studies/{likert_study.uid}/analysis/").status_code == 204


def test_a_table_the_analysis_cannot_use_is_a_failed_run_with_the_reason(ada, likert_study):
    simulate(likert_study, n=1, seed=4)  # one participant: no analysis possible
    page = ada.get(results_url(likert_study))
    assert page.status_code == 200
    run = AnalysisRun.objects.get(study=likert_study)
    assert run.state == "failed" and "participant" in run.error
    assert "The analysis could not be computed" in page.content.decode()
    assert run.error in page.content.decode()
    # computing again (the button) tries the same data again, and keeps one run
    assert ada.post(results_url(likert_study)).status_code == 302
    assert AnalysisRun.objects.filter(study=likert_study).count() == 1


def test_large_studies_are_analysed_by_a_task_and_the_page_waits(
    ada, likert_study, settings, django_capture_on_commit_callbacks
):
    settings.ANALYSIS_INLINE_MAX_RESPONSES = 5
    simulate(likert_study, n=3, seed=5)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        page = ada.get(results_url(likert_study))
    run = AnalysisRun.objects.get(study=likert_study)
    assert run.state == "queued" and len(callbacks) == 1
    html = page.content.decode()
    assert "being computed by a worker" in html and 'http-equiv="refresh"' in html
    api = ada.get(f"/api/studies/{likert_study.uid}/analysis/")
    assert api.status_code == 202 and api.json()["state"] == "queued"

    callbacks[0]()  # the task, in-process (tests run tasks eagerly)
    run.refresh_from_db()
    assert run.state == "done"
    callbacks[0]()  # delivered twice: computed once
    assert AnalysisRun.objects.get(pk=run.pk).finished_at == run.finished_at
    api = ada.get(f"/api/studies/{likert_study.uid}/analysis/")
    assert api.status_code == 200
    body = api.json()
    assert body["state"] == "done" and body["n_participants"] == 3
    assert {"results.csv", "report.html", "likert_ratings.png"} <= set(body["files"])
    assert any(r["analysis"] == "clmm" for r in body["results"])
    assert ada.get(body["files"]["likert_ratings.png"]).content.startswith(b"\x89PNG")


def test_a_queued_run_whose_task_was_lost_is_sent_again(
    ada, likert_study, settings, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from studies.services.analysis import QUEUED_RESEND_AFTER

    settings.ANALYSIS_INLINE_MAX_RESPONSES = 5
    simulate(likert_study, n=3, seed=5)
    with django_capture_on_commit_callbacks(execute=False) as lost:
        ada.get(results_url(likert_study))
    assert len(lost) == 1  # sent, never delivered
    run = AnalysisRun.objects.get(study=likert_study)
    assert run.state == "queued"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ada.get(results_url(likert_study))  # queued a moment ago: waits for its worker
    assert callbacks == []

    old = run.created_at - QUEUED_RESEND_AFTER - timedelta(seconds=1)
    AnalysisRun.objects.filter(pk=run.pk).update(created_at=old)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        page = ada.get(results_url(likert_study))
        again = ada.get(f"/api/studies/{likert_study.uid}/analysis/")  # once per period
    assert page.status_code == 200 and again.status_code == 202
    assert len(callbacks) == 1
    run.refresh_from_db()
    assert run.state == "queued" and run.created_at > old
    assert AnalysisRun.objects.filter(study=likert_study).count() == 1

    callbacks[0]()  # the task sent again reaches a worker
    run.refresh_from_db()
    assert run.state == "done", run.error
    AnalysisRun.objects.filter(pk=run.pk).update(created_at=old)  # a done run is never resent
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert ada.get(results_url(likert_study)).status_code == 200
    assert callbacks == []


def test_faithfulness_scores_of_the_shown_maps_give_human_vs_metric_rows(ada, researcher, assets):
    study = create_study(researcher, assets, protocol="likert")
    for saliency_map in assets.maps:
        value = 0.8 if saliency_map.method == "gradcam" else 0.3
        FaithfulnessScore.objects.create(
            saliency_map=saliency_map, metric="iauc", value=value, parameters_hash="0" * 64
        )
    simulate(study, n=4, seed=6, model=ResponseModel(effects={"gradcam": 1.0}))
    run = analysis_request(study)
    assert run is not None and run.state == "done", run and run.error
    rows = [r for r in run.results if r["analysis"] == "human_vs_metric"]
    assert [r["term"] for r in rows] == ["iauc"], rows
    assert "human_vs_iauc" in run.plots  # the human-vs-metric scatter


def test_viewers_see_results_and_others_do_not(client, likert_study, other_researcher):
    simulate(likert_study, n=3, seed=7)
    client.force_login(other_researcher)
    assert client.get(results_url(likert_study)).status_code == 404
    assert client.get(f"/api/studies/{likert_study.uid}/analysis/").status_code == 404
    assert not AnalysisRun.objects.exists()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"design": "paired", "effect": "0.5"}, "34 participants"),  # 33.37 pairs
        ({"design": "two_groups", "effect": "0.5"}, "64 participants per group, 128 in total"),
        (
            {"design": "two_proportions", "p1": "0.65", "p2": "0.5"},
            "170 participants per group, 340 in total",  # 169.09 per group
        ),
        ({"design": "anova", "effect": "0.25", "groups": "4"}, "45 participants per group"),
    ],
)
def test_power_planner_closed_forms(ada, query, expected):
    page = ada.get(reverse("studies:power"), {"alpha": "0.05", "target_power": "0.8", **query})
    assert page.status_code == 200
    assert expected in page.content.decode()


def test_power_planner_simulates_the_mixed_model(ada):
    query = {
        "design": "glmm",
        "effect": "1.5",
        "participants": "40",
        "items": "10",
        "simulations": "20",
        "alpha": "0.05",
    }
    page = ada.get(reverse("studies:power"), query)
    assert page.status_code == 200
    html = page.content.decode()
    assert "with 40 participants × 10 items" in html and "20 simulated studies" in html


def test_power_planner_names_what_is_wrong(ada):
    page = ada.get(
        reverse("studies:power"),
        {"design": "two_proportions", "p1": "0.5", "p2": "0.5", "alpha": "0.05"},
    )
    assert page.status_code == 400
    assert "p₂ must differ from p₁" in page.content.decode()
    page = ada.get(reverse("studies:power"), {"design": "glmm", "effect": "1", "alpha": "0.05"})
    assert page.status_code == 400 and "needs this value" in page.content.decode()


def test_power_planner_refuses_a_simulation_too_large_for_the_request(ada, monkeypatch):
    from analysis import power as analysis_power
    from studies.power import MAX_SIMULATED_RESPONSES, PowerForm

    def never(**kwargs):
        raise AssertionError("a refused simulation must not run")

    monkeypatch.setattr(analysis_power, "simulate_clmm_power", never)
    monkeypatch.setattr(analysis_power, "simulate_glmm_power", never)
    base = {"effect": "0.5", "alpha": "0.05", "participants": "200", "items": "50"}
    # 200 × 50 × 200 took ~58 s for the CLMM: refused, naming the most simulations that fit
    page = ada.get(reverse("studies:power"), {**base, "design": "clmm", "simulations": "200"})
    assert page.status_code == 400
    html = page.content.decode()
    most = MAX_SIMULATED_RESPONSES // (200 * 50)
    assert "200 participants × 50 items × 200 simulations = 2,000,000 simulated responses" in html
    assert f"reduce the simulations to {most} or fewer" in html
    # the default number of simulations counts too
    page = ada.get(reverse("studies:power"), {**base, "design": "glmm"})
    assert page.status_code == 400 and "× 100 simulations" in page.content.decode()
    # so large that even the fewest simulations do not fit: reduce participants or items
    big = {**base, "design": "glmm", "participants": "2000", "items": "500", "simulations": "20"}
    page = ada.get(reverse("studies:power"), big)
    assert page.status_code == 400 and "reduce the participants or items" in page.content.decode()
    # exactly the budget is allowed (validated only: not simulated here)
    fits = {**base, "design": "clmm", "participants": "50", "items": "50"}
    fits["simulations"] = str(MAX_SIMULATED_RESPONSES // (50 * 50))
    assert PowerForm(fits).is_valid()
    over = {**fits, "simulations": str(MAX_SIMULATED_RESPONSES // (50 * 50) + 1)}
    form = PowerForm(over)
    assert not form.is_valid() and "simulated responses" in form.errors["simulations"][0]


def test_designer_links_to_the_planner_for_its_protocol(ada):
    page = ada.get(reverse("studies:new"), {"protocol": "simulation"})
    assert f"{reverse('studies:power')}?protocol=simulation" in page.content.decode()
    planner = ada.get(reverse("studies:power"), {"protocol": "simulation"})
    assert 'value="anova" selected' in planner.content.decode()


def test_reliance_is_on_the_results_page_and_in_the_report(ada, researcher, media_root):
    from .conftest import METHODS, make_assets

    assets = make_assets(n_images=8, methods=METHODS[:1])
    study = create_study(
        researcher,
        assets,
        protocol="gt_prediction",
        configuration={"show_prediction": True, "confidence": False},
    )
    simulate(study, n=6, seed=9)
    html = ada.get(results_url(study)).content.decode()
    run = AnalysisRun.objects.get(study=study)
    assert run.state == "done", run.error
    key = html[: html.index("<caption>glmm_over_reliance</caption>")]  # key analyses come first
    for caption in ("over_reliance", "under_reliance", "appropriate_reliance"):
        assert f"<caption>{caption}</caption>" in key
    report = ada.get(file_url(run, "report.html")).content.decode()
    assert "over_reliance" in report and "glmm_appropriate_reliance" in report
