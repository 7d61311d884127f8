"""System checks that keep the configuration honest at start-up."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register


@register("services", deploy=True)
def check_services(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``check --deploy`` fails when the database or the broker cannot be reached."""
    from studyplatform.health import check_all

    return [
        Error(status.detail, id=f"studyplatform.E00{index}")
        for index, status in enumerate(check_all(), start=1)
        if not status.ok
    ]


@register("devices")
def check_device(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A worker asked to use CUDA on a machine without it gets a clear error."""
    device = str(settings.EXPLAINERS_DEVICE)
    if not device.startswith("cuda"):
        return []
    import torch

    if torch.cuda.is_available():
        return []
    return [
        Error(
            f"EXPLAINERS_DEVICE={device} but CUDA is not available on this machine",
            hint="Use EXPLAINERS_DEVICE=auto to fall back to the CPU.",
            id="studyplatform.E010",
        )
    ]
