"""The results page captions each plot with what it shows, not with its file name."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from django.urls import reverse

from studies.bots import ResponseModel, simulate
from studies.models import AnalysisRun
from studies.views.results import plot_title


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("clmm_forest", "Cumulative-link mixed model: method effects (forest plot)"),
        ("likert_ratings", "Likert ratings by method (diverging bars)"),
        ("win_matrix", "Win matrix: share of comparisons each method won"),
        ("bradley_terry_forest", "Bradley–Terry strengths (forest plot)"),
        ("accuracy_by_condition", "Accuracy by condition (95% CI)"),
        ("human_vs_iauc", "Human judgement vs Insertion AUC"),
        ("human_vs_ad", "Human judgement vs Average drop"),
        ("human_vs_new_metric", "Human judgement vs new metric"),  # not in the map
        ("some_future_plot", "Some future plot"),  # fallback: its words
    ],
)
def test_plot_title(name, title):
    assert plot_title(name) == title


TITLE = r'<figcaption><span class="plot-title">(.*?)</span>'


@pytest.mark.django_db
def test_results_page_captions_plots_with_their_titles(client, researcher, likert_study):
    simulate(likert_study, n=6, seed=3, model=ResponseModel(effects={"gradcam": 1.5}))
    client.force_login(researcher)
    page = client.get(reverse("studies:results", args=[likert_study.uid]))
    assert page.status_code == 200
    run = AnalysisRun.objects.get(study=likert_study)
    assert {"likert_ratings", "clmm_forest"} <= set(run.plots), run.plots
    captions = [
        html_lib.unescape(c).strip() for c in re.findall(TITLE, page.content.decode(), re.S)
    ]
    assert captions == [plot_title(name) for name in run.plots]
    assert "Cumulative-link mixed model: method effects (forest plot)" in captions
    assert not [c for c in captions if "_" in c or c.lower() == "clmm forest"]


def test_results_numbers_round_to_the_tables_precision():
    from studies.views.results import number

    assert number(-3.43e-14) == "0.000" and number(3.43e-14) == "0.000"
    assert number(-0.0004) == "0.000" and number(-0.0006) == "-0.001"
    assert number(0.12345) == "0.123" and number(2.0) == "2" and number(123456.7) == "1.23e+05"
    assert number(None) == "—"
