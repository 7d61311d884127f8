"""What the studies app does when the explainers app reports something (see explainers.signals).

Receivers are thin: they queue a task, and the task calls a service.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from explainers.signals import precompute_job_finished


@receiver(precompute_job_finished, dispatch_uid="studies.open_demo_studies")
def open_demo_studies_when_their_job_ends(sender: Any, *, job_id: int, **kwargs: Any) -> None:
    """A finished job may complete a demo draft's maps: queue the task that opens it."""
    from studies.services.demo import demo_studies_wait_on
    from studies.tasks import open_demo_studies

    if demo_studies_wait_on(job_id=job_id):
        open_demo_studies.delay()
