"""Computing one analysis run: what the Celery task ``studies.tasks.analyse_study`` (and, for a
small study, the request itself) calls. The path flows one way: view or API →
:mod:`studies.services.analysis` (the run for the data's stamp: kept, computed now or queued) →
task → here → the ``analysis`` package and the storage.

The inputs are exactly what a researcher downloads: the tidy responses (``StudyExport``, live
participants, exclusions applied as declared) and the faithfulness scores of the maps the study
shows (per item and method, for the ``human_vs_metric`` rows).
"""

from __future__ import annotations

import io
import logging
import math
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pandas as pd
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

import analysis
from explainers.models import FaithfulnessScore
from studies.export import StudyExport
from studies.models import AnalysisRun, Study
from studies.selectors import study_map_items
from studies.services.preregistration import preregistration_deviations

logger = logging.getLogger(__name__)

SEED = 0  # every bootstrap of a study's results: the same data give the same numbers
N_BOOT = 2000
DEVIATIONS_HEADING = "Deviations from the preregistration"


@dataclass(frozen=True)
class AnalysisInputs:
    """What one run analyses: the tidy table(s) and the faithfulness scores."""

    sections: dict[str, pd.DataFrame]  # "" for the whole table, else one per rated property
    metrics: pd.DataFrame | None
    n_rows: int
    n_participants: int


def _claim(run_id: int) -> AnalysisRun | None:
    """Mark the run as running, unless it is done or another process computes it right now."""
    stale = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    with transaction.atomic():
        run = AnalysisRun.objects.select_for_update().select_related("study").get(pk=run_id)
        if run.state == AnalysisRun.State.DONE:
            return None
        if run.state == AnalysisRun.State.RUNNING and run.started_at and run.started_at > stale:
            return None
        run.state = AnalysisRun.State.RUNNING
        run.started_at = timezone.now()
        run.error = ""
        run.save(update_fields=["state", "started_at", "error"])
    return run


def analysis_compute(*, run_id: int) -> AnalysisRun:
    """Compute one run (idempotent: a done run, or one being computed, is left as it is)."""
    run = _claim(run_id)
    if run is None:
        return AnalysisRun.objects.get(pk=run_id)
    start = time.perf_counter()
    try:
        inputs = analysis_inputs(run.study)
        fields = _run_and_store(run, inputs)
        fields.update(state=AnalysisRun.State.DONE, error="")
    except analysis.TableError as exc:
        fields = {"state": AnalysisRun.State.FAILED, "error": str(exc)}
    except Exception as exc:  # recorded on the run; the page shows it, the log has the trace
        logger.exception("analysis of study %s failed", run.study.uid)
        fields = {"state": AnalysisRun.State.FAILED, "error": f"internal error: {exc}"}
    fields.update(finished_at=timezone.now(), seconds=time.perf_counter() - start)
    AnalysisRun.objects.filter(pk=run.pk).update(**fields)
    run.refresh_from_db()
    return run


def analysis_inputs(study: Study) -> AnalysisInputs:
    """The tidy table as exported (live participants) and the scores of the study's maps."""
    export = StudyExport(study)
    text = export.responses_csv()
    table = pd.read_csv(io.StringIO(text), na_values=["NA"], keep_default_na=True)
    if "property" in table.columns and table["property"].nunique() > 1:
        sections = {
            str(name): part.drop(columns="property").reset_index(drop=True)
            for name, part in table.groupby("property", sort=True)
        }
    else:
        sections = {"": table}
    return AnalysisInputs(
        sections=sections,
        metrics=_metrics(study),
        n_rows=len(table),
        n_participants=int(table["participant_id"].nunique()) if len(table) else 0,
    )


def _metrics(study: Study) -> pd.DataFrame | None:
    """Long table ``method, metric, value, item_id`` (newest score per map and metric)."""
    ids = study_map_items(study)
    rows: dict[tuple[int, str], float | None] = {}
    scores = FaithfulnessScore.objects.filter(saliency_map_id__in=ids, value__isnull=False)
    for map_id, metric, value in scores.order_by("pk").values_list(
        "saliency_map_id", "metric", "value"
    ):
        rows[(map_id, metric)] = value
    if not rows:
        return None
    return pd.DataFrame(
        [
            {"method": ids[m][1], "metric": metric, "value": value, "item_id": ids[m][0]}
            for (m, metric), value in rows.items()
        ]
    )


def _json_value(value: Any) -> Any:
    """NaN and ±inf → None (JSON has neither), numpy scalars → Python ones."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-safe objects."""
    return [
        {str(k): _json_value(v) for k, v in row.items()} for row in frame.to_dict(orient="records")
    ]


def _run_and_store(run: AnalysisRun, inputs: AnalysisInputs) -> dict[str, Any]:
    """Analyse every section, store the files, and return the run's fields to save."""
    study = run.study
    folder = f"analysis/{study.uid}/{run.uid}"
    tables, plots, notes, versions = [], [], [], {}
    for section, table in inputs.sections.items():
        result = analysis.analyze(
            study.protocol, table, metrics=inputs.metrics, seed=run.seed, n_boot=N_BOOT
        )
        versions = result.versions
        prefix = f"{section}_" if section else ""
        frame = result.results.copy()
        if section:
            frame.insert(0, "property", section)
        tables.append(frame)
        notes += [f"{section}: {n}" if section else n for n in result.notes]
        for name, png in sorted(result.plots.items()):
            _save(f"{folder}/{prefix}{name}.png", png)
            plots.append(f"{prefix}{name}")
        title = f"{study.title} ({section})" if section else study.title
        report = "report.html" if not section else f"report_{section}.html"
        sections = []
        if study.preregistration is not None:
            found = preregistration_deviations(study, n_analysed=result.n_participants)
            items = [str(d) for d in found] or ["none: the study ran as registered"]
            sections.append((DEVIATIONS_HEADING, items))
        _save(f"{folder}/{report}", result.report_html(title=title, sections=sections).encode())
    results = pd.concat(tables, ignore_index=True)
    buffer = io.StringIO()
    results.to_csv(buffer, index=False, na_rep="NA", float_format="%.10g")
    _save(f"{folder}/results.csv", buffer.getvalue().encode())
    return {
        "results": _records(results),
        "notes": notes,
        "plots": plots,
        "versions": versions,
        "folder": folder,
        "n_responses": inputs.n_rows,
        "n_participants": inputs.n_participants,
    }


def _save(name: str, data: bytes) -> None:
    if default_storage.exists(name):  # a run computed again after a failure half-way
        default_storage.delete(name)
    default_storage.save(name, ContentFile(data))
