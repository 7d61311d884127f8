"""Researcher pages of a study's results (analysis, plots, downloads) and the power planner."""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from analysis.registry import analysis_protocols
from explainers.core.registry import METRICS
from studies.models import AnalysisRun
from studies.power import PowerForm
from studies.protocols import get_protocol
from studies.selectors import study_for
from studies.services.analysis import analysis_request, run_file, run_files
from studies.services.preregistration import (
    analysed_participants,
    preregistration_deviations,
)

CONTENT_TYPES = {".csv": "text/csv; charset=utf-8", ".html": "text/html; charset=utf-8"}
# faithfulness metrics (explainers.core.metrics) by their registry names
HUMAN_VS = "human_vs_"


def _metric_title(metric: str) -> str:
    """The registered metric's title (``dauc`` → "Deletion AUC"); an unknown name as words."""
    spec = METRICS.get(metric)
    return spec.title if spec is not None else metric.replace("_", " ")


def plot_title(name: str, protocol: str = "") -> str:
    """The caption of plot ``name`` (as the protocol declares it; ``human_vs_<metric>`` for
    every protocol); a name no protocol declares reads as its words."""
    titles: dict[str, str] = {}
    known = analysis_protocols()
    if protocol in known:
        titles.update(known[protocol].plot_titles)
    else:
        for spec in known.values():
            titles.update(spec.plot_titles)
    if name in titles:
        return titles[name]
    if name.startswith(HUMAN_VS) and len(name) > len(HUMAN_VS):
        metric = name[len(HUMAN_VS) :]
        return f"Human judgement vs {_metric_title(metric)}"
    return name.replace("_", " ").strip().capitalize() or "Plot"


def number(value: Any) -> str:
    """A number as a paper's table shows it: 3 decimals, — if none; magnitudes of 10⁵ and more
    with 3 significant digits. Below the table's precision it is 0.000 (a model's estimate of
    ``-3.43e-14`` is a zero computed in floating point, not a finding)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, str):
        return value
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    if abs(value) >= 1e5:
        return f"{value:.3g}"
    text = f"{value:.3f}"
    return "0.000" if text == "-0.000" else text


def p_value(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return "< .001" if value < 0.001 else f"{value:.3f}".lstrip("0")


def grouped_rows(run: AnalysisRun) -> list[dict[str, Any]]:
    """The results table grouped by (property and) analysis, numbers formatted."""
    groups: OrderedDict[tuple[str, str], list[dict[str, Any]]] = OrderedDict()
    for row in run.results:
        key = (row.get("property") or "", row["analysis"])
        groups.setdefault(key, []).append(
            {
                "term": row["term"],
                "estimate": number(row["estimate"]),
                "ci": (
                    f"[{number(row['ci_low'])}, {number(row['ci_high'])}]"
                    if row["ci_low"] is not None
                    else "—"
                ),
                "statistic": number(row["statistic"]),
                "df": number(row["df"]),
                "p": p_value(row["p"]),
                "p_adjusted": p_value(row["p_adjusted"]),
                "n": number(row["n"]),
                "note": row.get("note") or "",
            }
        )
    return [
        {"property": prop, "analysis": name, "rows": rows} for (prop, name), rows in groups.items()
    ]


@login_required
@require_http_methods(["GET", "POST"])
def study_results(request: HttpRequest, uid: str) -> HttpResponse:
    """The study's results: computed once per state of the data (POST: compute again)."""
    study = study_for(request.user, uid)
    if request.method == "POST":
        analysis_request(study, force=True)
        return redirect("studies:results", uid=study.uid)
    run = analysis_request(study)
    groups = grouped_rows(run) if run and run.state == AnalysisRun.State.DONE else []
    declared = analysis_protocols().get(study.protocol)
    key = declared.key_analyses if declared is not None else ()
    files = run_files(run) if run else []
    return render(
        request,
        "researcher/study_results.html",
        {
            "study": study,
            "protocol": get_protocol(study.protocol),
            "run": run,
            "key_groups": [g for g in groups if g["analysis"] in key],
            "groups": groups,
            "plots": [
                (name, plot_title(name, study.protocol)) for name in (run.plots if run else [])
            ],
            "downloads": [f for f in files if not f.endswith(".png")],
            "deviations": preregistration_deviations(study, n_analysed=analysed_participants(run)),
        },
    )


@login_required
@require_GET
def study_results_file(request: HttpRequest, uid: str, run: str, name: str) -> HttpResponse:
    """A file of one analysis run: results.csv, a report, or a plot."""
    study = study_for(request.user, uid)
    found = AnalysisRun.objects.filter(study=study, uid=run).first()
    if found is None:
        raise Http404("no such analysis")
    try:
        data = run_file(found, name)
    except KeyError:
        raise Http404("no such file") from None
    suffix = name[name.rfind(".") :]
    response = HttpResponse(data, content_type=CONTENT_TYPES.get(suffix, "image/png"))
    if suffix != ".png":
        response["Content-Disposition"] = f'attachment; filename="study-{study.uid}-{name}"'
    response["Cache-Control"] = "private, max-age=31536000, immutable"  # a run never changes
    return response


@login_required
@require_GET
def power_planner(request: HttpRequest) -> HttpResponse:
    """Sample size for the planned analysis: closed forms, or mixed models by simulation."""
    protocol = request.GET.get("protocol", "")
    form = PowerForm(request.GET if "design" in request.GET else None, protocol=protocol)
    answer = form.answer() if form.is_bound and form.is_valid() else None
    return render(
        request,
        "researcher/power.html",
        {"form": form, "answer": answer, "protocol": protocol},
        status=400 if form.is_bound and not form.is_valid() else 200,
    )
