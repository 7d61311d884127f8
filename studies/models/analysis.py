"""A study's analysis, computed once per state of its data and kept (the results cache)."""

from __future__ import annotations

import uuid

from django.db import models


class AnalysisRun(models.Model):
    """The ``analysis`` package run on one snapshot of a study's responses.

    ``data_stamp`` identifies the snapshot (responses, exclusions, faithfulness scores, analysis
    options and the package's version, see ``studies.services.analysis``): the unique constraint
    makes a double click, a retried task or two researchers opening the results page at once
    compute it once. The files (``results.csv``, ``report.html``, one PNG per plot) are stored
    through Django's storage API under ``folder``.
    """

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    study = models.ForeignKey(
        "studies.Study", on_delete=models.CASCADE, related_name="analysis_runs"
    )
    data_stamp = models.CharField(max_length=64)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    seed = models.IntegerField(default=0)
    n_responses = models.PositiveIntegerField(default=0, help_text="Rows of the tidy table.")
    n_participants = models.PositiveIntegerField(default=0)
    results = models.JSONField(default=list, help_text="The results table, one object a row.")
    notes = models.JSONField(default=list, help_text="Table-level notes (exclusions, ...).")
    plots = models.JSONField(default=list, help_text="Names of the plots, in report order.")
    versions = models.JSONField(default=dict)
    folder = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(null=True, blank=True, help_text="Compute time.")

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["study", "data_stamp"], name="analysis_unique_stamp")
        ]

    def __str__(self) -> str:
        return f"analysis of study {self.study_id} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)
