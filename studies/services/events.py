"""Appending to the event log."""

from __future__ import annotations

from typing import Any

from studies.models import Event, Participant, Study


def event_log(
    *,
    study: Study,
    kind: str,
    participant: Participant | None = None,
    actor: Any = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """Append one event (call inside the transaction that makes the change)."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    return Event.objects.create(
        study=study, participant=participant, actor=user, kind=kind, data=data or {}
    )
