"""Tasks routed to the ``gpu`` queue (``CELERY_TASK_ROUTES``): saliency work."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from explainers.device import resolve_device
from explainers.services.errors import JobError
from explainers.services.units import precompute_unit_fail, precompute_unit_run

logger = logging.getLogger(__name__)
MAX_RETRIES = 3


@shared_task(name="explainers.tasks.gpu.device_info")
def device_info() -> dict[str, object]:
    """Report the device this worker computes on (CUDA when available, else CPU)."""
    import torch

    device = resolve_device()
    info: dict[str, object] = {"device": device, "torch": torch.__version__}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


@shared_task(bind=True, name="explainers.tasks.gpu.compute_unit", max_retries=MAX_RETRIES)
def compute_unit(self: Any, unit_id: int) -> dict[str, object]:
    """Compute one unit (a method on a batch of images); retried with back-off, then recorded."""
    try:
        outcome = precompute_unit_run(unit_id=unit_id)
    except JobError as error:  # bad request: retrying cannot help
        precompute_unit_fail(unit_id=unit_id, error=str(error))
        return {"unit": unit_id, "error": str(error)}
    except Exception as error:
        # Eager (in-process) runs record the failure at once: a synchronous retry has no back-off.
        if self.request.retries >= MAX_RETRIES or self.request.is_eager:
            logger.exception("unit %s failed after %s retries", unit_id, self.request.retries)
            precompute_unit_fail(unit_id=unit_id, error=f"{type(error).__name__}: {error}")
            return {"unit": unit_id, "error": str(error)}
        raise self.retry(exc=error, countdown=2 ** (self.request.retries + 1)) from error
    return {
        "unit": unit_id,
        "maps": outcome.maps_created,
        "scores": outcome.scores_created,
        "skipped": outcome.skipped,
    }
