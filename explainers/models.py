"""Classifiers, image sets, predictions, saliency maps, faithfulness scores and precompute jobs.

Names are used by outside scripts: keep them. Files go through Django's storage API under opaque
names (hashes and UUIDs): no label, class or method ever appears in a file name or URL.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class SharedQuerySet(models.QuerySet):
    """Rows a researcher may see: their own, those shared with them, and owner-less ones."""

    def visible_to(self, user: object) -> SharedQuerySet:
        if getattr(user, "is_superuser", False):
            return self
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(Q(owner=user) | Q(shared_with=user) | Q(owner__isnull=True)).distinct()


class Classifier(models.Model):
    class Source(models.TextChoices):
        ZOO = "zoo", "built-in model zoo"
        TORCHSCRIPT = "torchscript", "uploaded TorchScript archive"
        STATE_DICT = "state_dict", "uploaded state_dict for an installed architecture"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="classifiers",
        help_text="Empty for the built-in zoo models, shown to all.",
    )
    shared_with = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="shared_classifiers"
    )
    name = models.CharField(max_length=100)
    source = models.CharField(max_length=20, choices=Source.choices)
    zoo_name = models.CharField(max_length=100, blank=True)
    architecture = models.CharField(
        max_length=255, blank=True, help_text="Python import path of the architecture (state_dict)."
    )
    target_layer = models.CharField(max_length=255, blank=True)
    file = models.FileField(upload_to="classifiers/", blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    class_names = models.JSONField(default=list)
    input_size = models.PositiveIntegerField(default=224)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SharedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="classifier_unique_name"),
            models.UniqueConstraint(
                fields=["name"], condition=Q(owner__isnull=True), name="zoo_classifier_unique"
            ),
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ImageSet(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="image_sets",
    )
    shared_with = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="shared_image_sets"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SharedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="image_set_unique_name")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Image(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    image_set = models.ForeignKey(ImageSet, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(upload_to="images/")
    original_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    # The ground truth as the labels file gave it. A name without an index is resolved against
    # each classifier's class names when used (explainers.core.labels.true_class), so one image
    # set serves classifiers with different classes; an index, given or resolved at import
    # (--classes-of), wins.
    label = models.CharField(max_length=200, blank=True, help_text="Ground-truth class name.")
    label_index = models.IntegerField(
        null=True,
        blank=True,
        help_text="Ground-truth class index (given, or resolved at import with --classes-of).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image_set", "sha256"], name="image_unique_in_set")
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.original_name


class Prediction(models.Model):
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="predictions")
    classifier = models.ForeignKey(Classifier, on_delete=models.CASCADE, related_name="predictions")
    top_classes = models.JSONField(help_text="Top-k class indices, most likely first.")
    top_probabilities = models.JSONField()
    predicted_class = models.IntegerField()
    probability = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "classifier"], name="prediction_unique")
        ]

    def __str__(self) -> str:
        return f"{self.classifier_id}: image {self.image_id} → class {self.predicted_class}"

    @property
    def correct(self) -> bool | None:
        """Whether the prediction is the image's true class for this classifier (None: no truth).
        A label name without an index is resolved against the classifier's classes."""
        from explainers.core.labels import class_lookup, true_class

        lookup = class_lookup(self.classifier.class_names or [])
        index = true_class(self.image.label, self.image.label_index, lookup)
        return None if index is None else index == self.predicted_class


class SaliencyMap(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="saliency_maps")
    classifier = models.ForeignKey(
        Classifier, on_delete=models.CASCADE, related_name="saliency_maps"
    )
    method = models.CharField(max_length=50)
    target_class = models.IntegerField()
    parameters = models.JSONField(help_text="Resolved method options, as computed.")
    parameters_hash = models.CharField(max_length=64)
    raw = models.FileField(upload_to="maps/raw/", help_text="float16 .npy array, h×w.")
    # The renders of maps computed before presentations existed (the "legacy" convention); maps
    # computed since are rendered into MapRender rows and leave these empty.
    overlay = models.FileField(upload_to="maps/overlay/", blank=True)
    heatmap = models.FileField(upload_to="maps/heatmap/", blank=True)
    height = models.PositiveIntegerField()
    width = models.PositiveIntegerField()
    device = models.CharField(max_length=30)
    seconds = models.FloatField(help_text="Compute time per map (batch time / batch size).")
    versions = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["image", "classifier", "method", "target_class", "parameters_hash"],
                name="saliency_map_unique",
            )
        ]
        indexes = [models.Index(fields=["classifier", "method"])]

    def __str__(self) -> str:
        return f"{self.method} of image {self.image_id} for class {self.target_class}"


class MapRender(models.Model):  # noqa: DJ008  (shown through its map)
    """A map drawn under one presentation convention (``explainers.core.render.Presentation``).

    Made from the stored raw map on the CPU (``default``) queue, never on the GPU path, once per
    (map, presentation): the key is the presentation's hash, so nothing is rendered twice. The
    files' names derive from that identity, so a render made twice overwrites itself.
    """

    saliency_map = models.ForeignKey(SaliencyMap, on_delete=models.CASCADE, related_name="renders")
    presentation_key = models.CharField(max_length=64)
    presentation = models.JSONField(help_text="The presentation's settings, as rendered.")
    image = models.FileField(upload_to="maps/render/", help_text="The stimulus (PNG).")
    heatmap = models.FileField(upload_to="maps/render/", help_text="The coloured map alone (PNG).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["saliency_map", "presentation_key"], name="map_render_unique"
            )
        ]


class FaithfulnessScore(models.Model):  # noqa: DJ008  (shown through its map)
    saliency_map = models.ForeignKey(SaliencyMap, on_delete=models.CASCADE, related_name="scores")
    metric = models.CharField(max_length=20)
    value = models.FloatField(null=True, help_text="Empty where the metric is undefined.")
    parameters = models.JSONField(default=dict)
    parameters_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["saliency_map", "metric", "parameters_hash"], name="score_unique"
            )
        ]


class PrecomputeJob(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed", "finished with errors"
        CANCELLED = "cancelled"

    class Target(models.TextChoices):
        PREDICTED = "predicted", "the model's predicted class"
        TRUTH = "truth", "the ground-truth class"

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="precompute_jobs",
    )
    shared_with = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="shared_precompute_jobs"
    )
    classifier = models.ForeignKey(Classifier, on_delete=models.CASCADE, related_name="jobs")
    image_set = models.ForeignKey(ImageSet, on_delete=models.CASCADE, related_name="jobs")
    methods = models.JSONField(help_text="Method names.")
    metrics = models.JSONField(default=list, help_text="Faithfulness metric names.")
    targets = models.JSONField(default=list, help_text="predicted and/or truth.")
    options = models.JSONField(default=dict, help_text="Per-method options: {method: {...}}.")
    presentations = models.JSONField(
        default=list,
        help_text="Presentations to render each map in, on the CPU queue, once computed.",
    )
    batch_size = models.PositiveIntegerField(default=8)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    total = models.PositiveIntegerField(default=0, help_text="Work units (image × method).")
    completed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list)
    warnings = models.JSONField(
        default=list,
        help_text="What the job was created despite (e.g. labels that name no class), as text.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    compute_seconds = models.FloatField(default=0.0)

    objects = SharedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"job {self.uid} ({self.state})"

    @property
    def progress(self) -> float:
        return 1.0 if self.total == 0 else (self.completed + self.failed) / self.total

    @property
    def is_finished(self) -> bool:
        return self.state in {self.State.DONE, self.State.FAILED, self.State.CANCELLED}


class PrecomputeUnit(models.Model):  # noqa: DJ008  (internal bookkeeping)
    """One task's work: a method on a batch of images; its row makes dispatch idempotent."""

    class State(models.TextChoices):
        QUEUED = "queued"
        DONE = "done"
        FAILED = "failed"

    job = models.ForeignKey(PrecomputeJob, on_delete=models.CASCADE, related_name="units")
    method = models.CharField(max_length=50)
    image_ids = models.JSONField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["job", "state"])]
