"""Celery tasks of the studies app (default queue)."""

from __future__ import annotations

from celery import shared_task

from studies.services.analysis_runs import analysis_compute


@shared_task(name="studies.tasks.analyse_study")
def analyse_study(run_id: int) -> dict[str, object]:
    """Compute one analysis run of a large study (idempotent: a done run is left as it is)."""
    run = analysis_compute(run_id=run_id)
    return {"run": run.pk, "state": run.state, "seconds": run.seconds}


@shared_task(name="studies.tasks.open_demo_studies")
def open_demo_studies() -> dict[str, object]:
    """Launch the demo's drafts whose maps are ready (idempotent: a study opens once)."""
    from studies.services.demo import demo_studies_open

    openings = demo_studies_open()
    return {
        "opened": [o.study.title for o in openings if o.opened],
        "waiting": [o.study.title for o in openings if o.waiting],
        "refused": {o.study.title: o.reason for o in openings if o.reason},
    }
