"""Signals the explainers app sends, so that other apps can react without being imported here.

Data flows one way (DESIGN.md): ``studies`` depends on ``explainers``, never the reverse. A study
that waits for its maps listens to :data:`precompute_job_finished` instead of being called.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction
from django.dispatch import Signal

# Sent once the transaction that finished a precompute job (done, failed or cancelled) has
# committed. Arguments: ``sender`` (the PrecomputeJob class), ``job_id``, ``state``. Receivers run
# in the process that finished the job (a worker), after the job's rows are visible to others.
precompute_job_finished = Signal()


def precompute_job_finished_on_commit(*, job_id: int, state: str) -> None:
    """Send :data:`precompute_job_finished` when the current transaction commits.

    ``robust``: a receiver that raises is logged by Django and does not undo the finished job.
    """
    transaction.on_commit(_sender(job_id, state), robust=True)


def _sender(job_id: int, state: str) -> Callable[[], None]:
    # A named function, not functools.partial: Django logs a failing robust callback by its
    # __qualname__, which a partial object does not have.
    from explainers.models import PrecomputeJob

    def send_precompute_job_finished() -> None:
        precompute_job_finished.send(sender=PrecomputeJob, job_id=job_id, state=state)

    return send_precompute_job_finished
