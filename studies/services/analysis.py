"""A study's results: the ``analysis`` package run on its tidy export, once per state of the data.

The inputs are exactly what a researcher downloads: the tidy responses (``StudyExport``, live
participants, exclusions applied as declared) and the faithfulness scores of the maps the study
shows (per item and method, for the ``human_vs_metric`` rows). A *data stamp* — a hash of the
responses, the participants' states and exclusions, the scores, the study's design, the
analysis options and version, and a hash of the analysis package's source
(:func:`analysis.source_hash`: a fix of the statistics computes old results again) — names one
state of those inputs; an :class:`AnalysisRun` is computed once per stamp and kept, so opening
the results page again costs a few queries.

Small studies are analysed in the request that asks (``ANALYSIS_INLINE_MAX_RESPONSES``); larger
ones by the Celery task ``studies.tasks.analyse_study`` on the default queue, while the page
says so and refreshes. A failure is recorded on the run with its message (a table the analysis
cannot use says which column is wrong); it never takes the page down.

The Likert *properties* variant rates several properties per trial: each property is analysed
on its own, and the results carry a ``property`` column (plots and reports are per property).
"""

from __future__ import annotations

import hashlib
import io
import json
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
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, QuerySet
from django.utils import timezone

import analysis
from explainers.models import FaithfulnessScore
from studies.export import StudyExport
from studies.models import AnalysisRun, Participant, Response, Study, Trial
from studies.services.preregistration import preregistration_deviations

logger = logging.getLogger(__name__)

SEED = 0  # every bootstrap of a study's results: the same data give the same numbers
N_BOOT = 2000
FILE_NAMES = ("results.csv", "report.html")
# A run still queued after this long is sent to a worker again (its task may have been lost).
QUEUED_RESEND_AFTER = timedelta(minutes=10)
DEVIATIONS_HEADING = "Deviations from the preregistration"


@dataclass(frozen=True)
class AnalysisInputs:
    """What one run analyses: the tidy table(s) and the faithfulness scores."""

    sections: dict[str, pd.DataFrame]  # "" for the whole table, else one per rated property
    metrics: pd.DataFrame | None
    n_rows: int
    n_participants: int


def analysis_stamp(study: Study) -> tuple[str, int]:
    """The data stamp of the study's current inputs, and its number of main-trial responses."""
    live = Participant.Mode.LIVE
    responses = Response.objects.filter(
        participant__study=study, mode=live, trial__kind=Trial.Kind.MAIN
    ).aggregate(n=Count("id"), last=Max("id"))
    participants = list(
        study.participants.filter(mode=live)
        .order_by("pk")
        .values_list("pk", "state", "exclusion_reason", "condition_id")
    )
    scores = _scores(study).aggregate(n=Count("id"), last=Max("id"))
    payload = {
        "analysis": analysis.__version__,
        "analysis_source": analysis.source_hash(),
        "seed": SEED,
        "n_boot": N_BOOT,
        "protocol": study.protocol,
        "configuration": study.configuration,
        "flow": study.flow,
        "preregistration": study.preregistration_sha256,
        "responses": [responses["n"], responses["last"]],
        "participants": participants,
        "scores": [scores["n"], scores["last"]],
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest(), int(responses["n"])


def analysis_latest(study: Study) -> AnalysisRun | None:
    return AnalysisRun.objects.filter(study=study).order_by("-created_at", "-pk").first()


def analysis_request(study: Study, *, force: bool = False) -> AnalysisRun | None:
    """The run for the study's current data: kept, computed now, or queued for a worker.

    ``None`` when the study has no responses yet. ``force`` computes again a run that failed
    and sends again one still waiting (e.g. after its worker was lost). Without ``force``, a run
    queued for longer than :data:`QUEUED_RESEND_AFTER` is sent again (:func:`_claim_resend`).
    """
    stamp, n_responses = analysis_stamp(study)
    if n_responses == 0:
        return None
    try:
        with transaction.atomic():
            run, created = AnalysisRun.objects.get_or_create(
                study=study, data_stamp=stamp, defaults={"seed": SEED}
            )
    except IntegrityError:  # created at the same moment by another request
        run, created = AnalysisRun.objects.get(study=study, data_stamp=stamp), False
    if not created and force and run.state != AnalysisRun.State.DONE:
        AnalysisRun.objects.filter(pk=run.pk).update(
            state=AnalysisRun.State.QUEUED, error="", started_at=None
        )
    elif not created and not _claim_resend(run):
        return run
    if n_responses <= settings.ANALYSIS_INLINE_MAX_RESPONSES:
        return analysis_compute(run_id=run.pk)
    from studies.tasks import analyse_study

    transaction.on_commit(lambda: analyse_study.delay(run.pk))
    run.refresh_from_db()
    return run


def _claim_resend(run: AnalysisRun) -> bool:
    """Whether this request sends again a run queued for longer than :data:`QUEUED_RESEND_AFTER`.

    A queued run whose task was lost (broker restarted, the process died between the commit and
    the send) would otherwise wait forever. ``created_at`` of a queued run is the time it was
    last sent: moving it forward in one conditional UPDATE lets exactly one of several
    concurrent requests send it again, once per period. A duplicate delivery is harmless
    (:func:`analysis_compute` leaves a done or running run as it is).
    """
    if run.state != AnalysisRun.State.QUEUED:
        return False
    now = timezone.now()
    resent = AnalysisRun.objects.filter(
        pk=run.pk, state=AnalysisRun.State.QUEUED, created_at__lt=now - QUEUED_RESEND_AFTER
    ).update(created_at=now)
    if resent:
        logger.warning("analysis run %s was queued since %s: sent again", run.uid, run.created_at)
    return bool(resent)


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


def _scores(study: Study) -> QuerySet[FaithfulnessScore]:
    return FaithfulnessScore.objects.filter(saliency_map_id__in=_map_ids(study))


def _map_ids(study: Study) -> dict[int, tuple[str, str]]:
    """Map id → (item, method) of the maps the study shows for each image's predicted class."""
    ids: dict[int, tuple[str, str]] = {}
    for item_id, data in study.stimuli.values_list("item_id", "data"):
        for method, per_target in (data.get("maps") or {}).items():
            ref = per_target.get("predicted") or next(iter(per_target.values()), None)
            if ref:
                ids[int(ref["id"])] = (item_id, method)
    return ids


def _metrics(study: Study) -> pd.DataFrame | None:
    """Long table ``method, metric, value, item_id`` (newest score per map and metric)."""
    ids = _map_ids(study)
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


def run_files(run: AnalysisRun) -> list[str]:
    """The names of the run's files that can be downloaded (plots as ``<name>.png``)."""
    if run.state != AnalysisRun.State.DONE:
        return []
    sections = sorted({r["property"] for r in run.results if r.get("property")})
    reports = [f"report_{s}.html" for s in sections] if sections else ["report.html"]
    return ["results.csv", *reports, *(f"{p}.png" for p in run.plots)]


def run_file(run: AnalysisRun, name: str) -> bytes:
    """One of :func:`run_files`; ``KeyError`` for any other name."""
    if name not in run_files(run):
        raise KeyError(name)
    with default_storage.open(f"{run.folder}/{name}", "rb") as handle:
        return handle.read()
