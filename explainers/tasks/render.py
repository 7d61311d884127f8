"""Render tasks (``default`` queue, CPU): draw stored raw maps under a presentation."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from explainers.services.rendering import map_renders_create


@shared_task(
    name="explainers.tasks.render.render_maps",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=3,
)
def render_maps(map_ids: list[int], presentation: dict[str, Any]) -> int:
    """Render the maps that lack a render under ``presentation``; how many were made."""
    return map_renders_create(map_ids=map_ids, presentation=presentation)
