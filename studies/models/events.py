"""The append-only event log: the provenance of the research data."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class EventQuerySet(models.QuerySet["Event"]):
    def update(self, **kwargs: Any) -> int:
        raise TypeError("events are append-only: they cannot be updated")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise TypeError("events are append-only: they cannot be deleted one by one")


class Event(models.Model):
    """Something that changed a study's or a participant's state, when, and by whom.

    Rows are only ever inserted: saving an existing row, updating or deleting rows through the ORM
    raises. They go away only with their study or participant (a draft's preview participants).
    """

    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="events")
    participant = models.ForeignKey(
        "studies.Participant",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="events",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="study_events",
    )
    kind = models.CharField(max_length=40)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["study", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind} at {self.created_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise TypeError("events are append-only: an existing event cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise TypeError("events are append-only: an event cannot be deleted")
