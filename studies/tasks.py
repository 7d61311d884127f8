"""Celery tasks of the studies app (default queue)."""

from __future__ import annotations

from celery import shared_task

from studies.services.analysis_runs import analysis_compute


@shared_task(name="studies.tasks.analyse_study")
def analyse_study(run_id: int) -> dict[str, object]:
    """Compute one analysis run of a large study (idempotent: a done run is left as it is)."""
    run = analysis_compute(run_id=run_id)
    return {"run": run.pk, "state": run.state, "seconds": run.seconds}
