"""Asking for renders: queue the CPU render tasks for the maps that lack one under a presentation
(service → task → :mod:`explainers.services.rendering` draws and stores them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import transaction

from explainers.core.render import Presentation
from explainers.services.rendering import RENDER_CHUNK, presentation_parse, renders_missing


def map_renders_request(
    *, map_ids: Sequence[int], presentations: Sequence[Mapping[str, Any] | Presentation]
) -> int:
    """Queue render tasks (CPU queue, when the transaction commits) for what is missing; returns
    how many renders were missing."""
    missing = 0
    for item in presentations:
        convention = item if isinstance(item, Presentation) else presentation_parse(item)
        todo = renders_missing(map_ids=map_ids, presentation=convention)
        missing += len(todo)
        settings = convention.to_dict()
        for start in range(0, len(todo), RENDER_CHUNK):
            chunk = todo[start : start + RENDER_CHUNK]
            transaction.on_commit(_sender(chunk, settings), robust=True)
    return missing


def _sender(map_ids: list[int], presentation: dict[str, Any]) -> Callable[[], None]:
    """The on-commit callback that sends one chunk: a named function, so that Django can log it
    by name if the broker refuses it (a ``functools.partial`` has no ``__qualname__``)."""

    def send_render_chunk() -> None:
        # imported here: loading the tasks package loads the gpu tasks, which import the units
        from explainers.tasks.render import render_maps

        render_maps.delay(map_ids, presentation)

    return send_render_chunk
