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
import json
import logging
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from django.utils import timezone

import analysis
from studies.models import AnalysisRun, Participant, Response, Study, Trial
from studies.selectors import study_scores
from studies.services.analysis_runs import N_BOOT, SEED, analysis_compute

logger = logging.getLogger(__name__)

FILE_NAMES = ("results.csv", "report.html")
# A run still queued after this long is sent to a worker again (its task may have been lost).
QUEUED_RESEND_AFTER = timedelta(minutes=10)


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
    scores = study_scores(study).aggregate(n=Count("id"), last=Max("id"))
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
