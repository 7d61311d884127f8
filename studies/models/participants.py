"""Participants, their planned trials and their responses."""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q

from studies.models.study import Condition, Stimulus, Study


def participant_code() -> str:
    """An unguessable code for the participant's URLs (128 bits)."""
    return secrets.token_urlsafe(16)


class Participant(models.Model):
    class Mode(models.TextChoices):
        PREVIEW = "preview", "researcher preview"
        PILOT = "pilot"
        LIVE = "live"

    class Source(models.TextChoices):
        PROLIFIC = "prolific"
        MTURK = "mturk"
        ANONYMOUS = "anonymous"
        PREVIEW = "preview"

    class State(models.TextChoices):
        STARTED = "started", "started (before consent)"
        IN_PROGRESS = "in_progress", "in progress"
        COMPLETED = "completed"
        SCREENED_OUT = "screened_out", "screened out"
        TIMED_OUT = "timed_out", "timed out"
        EXCLUDED = "excluded"
        RESTARTED = "restarted", "replaced by a restart"

    ACTIVE_STATES = (State.STARTED, State.IN_PROGRESS)

    code = models.CharField(max_length=32, unique=True, default=participant_code)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    number = models.PositiveIntegerField(help_text="Arrival order within the study: export id.")
    condition = models.ForeignKey(
        Condition, null=True, on_delete=models.RESTRICT, related_name="participants"
    )
    seed = models.BigIntegerField(help_text="Seeds the trial plan, which can be rebuilt from it.")
    mode = models.CharField(max_length=10, choices=Mode.choices)
    source = models.CharField(max_length=12, choices=Source.choices)
    recruiter_hash = models.CharField(
        max_length=64, blank=True, help_text="Keyed hash (HMAC-SHA256) of the recruiter's id."
    )
    recruitment = models.JSONField(
        default=dict, help_text="Recruiter parameters; personal ids only as keyed hashes."
    )
    state = models.CharField(max_length=14, choices=State.choices, default=State.STARTED)
    page = models.CharField(max_length=20, default="consent")
    planned = models.BooleanField(
        default=True,
        help_text="False only between the participant's creation and the storing of their trial "
        "plan (a start interrupted there is completed by their next request).",
    )
    n_trials = models.PositiveIntegerField(default=0)
    n_practice = models.PositiveIntegerField(default=0)
    n_answered = models.PositiveIntegerField(default=0)
    attention_failures = models.PositiveIntegerField(default=0)
    demographics = models.JSONField(default=dict, blank=True)
    questionnaire = models.JSONField(default=dict, blank=True)
    exclusion_reason = models.CharField(max_length=200, blank=True)
    included_by_researcher = models.BooleanField(
        default=False,
        help_text="The researcher included the participant again: the declared exclusion rules "
        "no longer apply to them (export, monitor, assignment).",
    )
    started_at = models.DateTimeField(auto_now_add=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "number"]
        constraints = [
            models.UniqueConstraint(fields=["study", "number"], name="participant_unique_number"),
            # The same recruiter id cannot take part twice (previews and restarts aside).
            models.UniqueConstraint(
                fields=["study", "recruiter_hash"],
                condition=Q(recruiter_hash__gt="") & ~Q(mode="preview") & ~Q(state="restarted"),
                name="participant_unique_recruiter",
            ),
        ]
        indexes = [models.Index(fields=["study", "mode", "state"])]

    def __str__(self) -> str:
        return f"P{self.number:04d} of study {self.study_id}"

    @property
    def export_id(self) -> str:
        return f"P{self.number:04d}"

    @property
    def progress(self) -> float:
        return 0.0 if not self.n_trials else self.n_answered / self.n_trials


class Trial(models.Model):
    """One planned screen: ``shown`` is all the browser gets; ``hidden`` stays on the server."""

    class Kind(models.TextChoices):
        PRACTICE = "practice"
        MAIN = "main"
        ATTENTION = "attention", "attention check"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="trials")
    index = models.PositiveIntegerField(help_text="Order in the participant's session, from 0.")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    stimulus = models.ForeignKey(
        Stimulus, null=True, blank=True, on_delete=models.RESTRICT, related_name="trials"
    )
    item_id = models.CharField(max_length=64, blank=True)
    shown = models.JSONField(help_text="What the participant sees: safe to send to the browser.")
    hidden = models.JSONField(help_text="Methods, positions, expected answers: never sent.")
    assets = models.JSONField(default=dict, help_text="Opaque token → stored file name.")
    shown_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["participant", "index"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "index"], name="trial_unique_index")
        ]

    def __str__(self) -> str:
        return f"trial {self.index} of participant {self.participant_id}"


class Response(models.Model):
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="responses")
    trial = models.OneToOneField(Trial, on_delete=models.CASCADE, related_name="response")
    value = models.JSONField(help_text="The answer as validated by the protocol.")
    scored = models.JSONField(default=dict, help_text="Derived columns (rating, choice, ...).")
    rt_ms = models.FloatField(null=True, blank=True, help_text="Client time (performance.now()).")
    server_rt_ms = models.FloatField(null=True, blank=True, help_text="Shown → received.")
    idempotency_key = models.CharField(max_length=64)
    mode = models.CharField(max_length=10, choices=Participant.Mode.choices)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["participant", "trial__index"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "idempotency_key"], name="response_unique_key"
            )
        ]

    def __str__(self) -> str:
        return f"response to trial {self.trial_id}"
