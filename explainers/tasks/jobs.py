"""Job-level tasks (default queue): fan a precompute job out into unit tasks on the gpu queue."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready

from explainers.services.units import precompute_job_dispatch

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
def resume_unfinished_jobs(sender: object = None, **kwargs: object) -> None:
    """A worker that starts re-sends every unfinished job: pending and running ones.

    - Running: a worker killed outright (SIGKILL) leaves its unacknowledged task with the broker
      until the visibility timeout; re-sending the job's queued units lets a new worker finish it
      now.
    - Pending: the job's dispatch message never reached the broker (it was down when the job was
      stored) or was lost with it; dispatching now creates and sends its units.

    Dispatch and units are idempotent, so a job or unit sent twice is computed once and counted
    once; a unit that keeps killing its worker is given up after ``MAX_UNIT_ATTEMPTS`` starts.
    """
    from explainers.models import PrecomputeJob

    try:
        unfinished = list(
            PrecomputeJob.objects.filter(
                state__in=[PrecomputeJob.State.PENDING, PrecomputeJob.State.RUNNING]
            )
            .order_by("created_at")
            .values_list("id", flat=True)
        )
    except Exception:  # the database may not be migrated yet on a first start
        logger.warning("could not look for unfinished precompute jobs", exc_info=True)
        return
    for job_id in unfinished:
        try:
            dispatch_job.delay(job_id)
        except Exception:  # the broker went away again: the next worker start retries
            logger.warning("could not re-send precompute job %s", job_id, exc_info=True)
            return
