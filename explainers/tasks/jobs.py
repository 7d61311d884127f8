"""Job-level tasks (default queue): fan a precompute job out into unit tasks on the gpu queue."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready

from explainers.services.precompute import precompute_job_dispatch

logger = logging.getLogger(__name__)


@shared_task(name="explainers.tasks.jobs.dispatch_job")
def dispatch_job(job_id: int) -> int:
    """Create the job's units (once) and send every unit still queued; returns how many."""
    from explainers.tasks.gpu import compute_unit

    queued = precompute_job_dispatch(job_id=job_id)
    for unit_id in queued:
        compute_unit.delay(unit_id)
    return len(queued)


@worker_ready.connect
def resume_running_jobs(sender: object = None, **kwargs: object) -> None:
    """A worker that starts re-sends the queued units of running jobs.

    A worker killed outright (SIGKILL) leaves its unacknowledged task with the broker until the
    visibility timeout; re-sending lets a new worker finish the job now. Units are idempotent, so
    a unit delivered twice is computed once and counted once.
    """
    from explainers.models import PrecomputeJob

    try:
        running = list(
            PrecomputeJob.objects.filter(state=PrecomputeJob.State.RUNNING).values_list(
                "id", flat=True
            )
        )
    except Exception:  # the database may not be migrated yet on a first start
        logger.warning("could not look for running precompute jobs", exc_info=True)
        return
    for job_id in running:
        dispatch_job.delay(job_id)
