"""A study's design: protocol, configuration, stimuli selection, conditions and frozen stimuli."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q


def _link_token() -> str:
    return secrets.token_urlsafe(12)


def _completion_code() -> str:
    return secrets.token_hex(4).upper()


class StudyQuerySet(models.QuerySet["Study"]):
    """Studies a researcher may see (owner or collaborator) or edit (owner or editor)."""

    def visible_to(self, user: Any) -> StudyQuerySet:
        if getattr(user, "is_superuser", False):
            return self
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(Q(owner=user) | Q(collaborators__user=user)).distinct()

    def editable_by(self, user: Any) -> StudyQuerySet:
        if getattr(user, "is_superuser", False):
            return self
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(
            Q(owner=user) | Q(collaborators__user=user, collaborators__role=Collaborator.Role.EDIT)
        ).distinct()


class Study(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft"
        PILOT = "pilot", "pilot (responses flagged)"
        LIVE = "live"
        PAUSED = "paused"
        CLOSED = "closed"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="studies"
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    protocol = models.CharField(max_length=40)
    configuration = models.JSONField(default=dict, help_text="The protocol's options, validated.")
    flow = models.JSONField(
        default=dict, help_text="Consent, pages, attention checks, recruitment, exclusion rules."
    )
    stimuli_selection = models.JSONField(
        default=dict, help_text="Methods and which images (all, misclassified, correct, sample)."
    )
    classifier = models.ForeignKey(
        "explainers.Classifier", on_delete=models.PROTECT, related_name="studies"
    )
    image_set = models.ForeignKey(
        "explainers.ImageSet", on_delete=models.PROTECT, related_name="studies"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    version = models.PositiveIntegerField(default=1)
    lineage = models.UUIDField(default=uuid.uuid4, help_text="Shared by all versions of a study.")
    previous_version = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="next_versions"
    )
    link_token = models.CharField(
        max_length=32, unique=True, default=_link_token, help_text="The recruitment link's key."
    )
    completion_code = models.CharField(max_length=40, default=_completion_code)
    participant_counter = models.PositiveIntegerField(
        default=0, help_text="Numbers participants in arrival order (their export id)."
    )
    stimuli_frozen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    preregistration = models.JSONField(
        null=True,
        blank=True,
        help_text="The preregistration frozen at the first launch (analysis.preregistration).",
    )
    preregistration_sha256 = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of the frozen preregistration's canonical JSON.",
    )
    preregistered_at = models.DateTimeField(null=True, blank=True)

    objects = StudyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"
        constraints = [
            models.UniqueConstraint(fields=["lineage", "version"], name="study_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"

    @property
    def accepts_participants(self) -> bool:
        return self.state in {self.State.PILOT, self.State.LIVE}


class Collaborator(models.Model):
    class Role(models.TextChoices):
        EDIT = "edit", "edit"
        VIEW = "view", "view and analyse"

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="collaborators")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="study_collaborations"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEW)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="collaborator_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} ({self.role}) on study {self.study_id}"


class Condition(models.Model):
    """A between-subject cell (a factor combination, or a counterbalancing row)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="conditions")
    name = models.CharField(max_length=100)
    factors = models.JSONField(default=dict)
    position = models.PositiveIntegerField()
    quota = models.PositiveIntegerField(
        null=True, blank=True, help_text="Completed participants wanted; empty means no limit."
    )

    class Meta:
        ordering = ["study", "position"]
        constraints = [
            models.UniqueConstraint(fields=["study", "name"], name="condition_unique_name"),
            models.UniqueConstraint(fields=["study", "position"], name="condition_unique_position"),
        ]

    def __str__(self) -> str:
        return self.name


class Stimulus(models.Model):
    """One image of the study with everything a trial needs, frozen when the study opens.

    ``data`` holds the classes and, per method and target ("predicted"/"truth"), the map's id and
    file names, so that a participant's trial plan is built without further queries and stays
    the same if maps are recomputed later.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="stimuli")
    position = models.PositiveIntegerField()
    item_id = models.CharField(max_length=64, help_text="Stable across labs: the image's hash.")
    image = models.ForeignKey("explainers.Image", on_delete=models.PROTECT, related_name="+")
    data = models.JSONField()

    class Meta:
        ordering = ["study", "position"]
        verbose_name_plural = "stimuli"
        constraints = [
            models.UniqueConstraint(fields=["study", "item_id"], name="stimulus_unique_item"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} of study {self.study_id}"
