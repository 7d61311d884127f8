"""API input and output serializers of the explainers app (explicit, one per use)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from explainers.models import (
    Classifier,
    FaithfulnessScore,
    Image,
    ImageSet,
    PrecomputeJob,
    Prediction,
    SaliencyMap,
)
from explainers.services import classifiers, image_sources

MAX_LABELS_BYTES = 10 * 2**20  # a labels CSV of 100,000 rows is about 3 MB


class ClassifierOut(serializers.ModelSerializer):
    n_classes = serializers.SerializerMethodField()

    class Meta:
        model = Classifier
        fields = [
            "id",
            "uid",
            "name",
            "source",
            "zoo_name",
            "architecture",
            "target_layer",
            "sha256",
            "input_size",
            "n_classes",
            "created_at",
        ]

    def get_n_classes(self, obj: Classifier) -> int:
        return len(obj.class_names)


class ClassifierUploadIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    source = serializers.ChoiceField(choices=["torchscript", "state_dict"])  # type: ignore[assignment]
    file = serializers.FileField()
    class_names = serializers.ListField(child=serializers.CharField(), min_length=2)
    architecture = serializers.CharField(required=False, allow_blank=True, default="")
    target_layer = serializers.CharField(required=False, allow_blank=True, default="")
    input_size = serializers.IntegerField(required=False, default=224, min_value=32, max_value=1024)

    def validate_file(self, file: Any) -> Any:
        return _at_most(file, classifiers.MAX_MODEL_BYTES)


class ImageSetOut(serializers.ModelSerializer):
    n_images = serializers.IntegerField(read_only=True)

    class Meta:
        model = ImageSet
        fields = ["id", "uid", "name", "description", "n_images", "created_at"]


class ImageSetUploadIn(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    archive = serializers.FileField(help_text="A zip of images (sub-folders per class allowed).")
    labels = serializers.FileField(required=False, help_text="CSV: file,label or class_index.")
    description = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_archive(self, archive: Any) -> Any:
        return _at_most(archive, image_sources.MAX_ARCHIVE_BYTES)

    def validate_labels(self, labels: Any) -> Any:
        return _at_most(labels, MAX_LABELS_BYTES)


def _at_most(upload: Any, limit: int) -> Any:
    """Refuse an upload by its size before anything reads it (Django spools big ones to disk)."""
    if upload is not None and upload.size > limit:
        size = f"{limit / 2**20:.0f} MB" if limit >= 2**20 else f"{limit} bytes"
        raise serializers.ValidationError(f"the file is larger than {size}")
    return upload


class ImportReportOut(serializers.Serializer):
    image_set = ImageSetOut()
    added = serializers.ListField(child=serializers.CharField())
    duplicates = serializers.ListField(child=serializers.CharField())
    rejected = serializers.ListField(child=serializers.DictField())


class ImageOut(serializers.ModelSerializer):
    url = serializers.FileField(source="file", read_only=True)

    class Meta:
        model = Image
        fields = [
            "id",
            "uid",
            "original_name",
            "sha256",
            "width",
            "height",
            "label",
            "label_index",
            "url",
        ]


class PredictionOut(serializers.ModelSerializer):
    class Meta:
        model = Prediction
        fields = [
            "image",
            "classifier",
            "top_classes",
            "top_probabilities",
            "predicted_class",
            "probability",
        ]


class ScoreOut(serializers.ModelSerializer):
    class Meta:
        model = FaithfulnessScore
        fields = ["metric", "value", "parameters"]


class SaliencyMapOut(serializers.ModelSerializer):
    scores = ScoreOut(many=True, read_only=True)

    class Meta:
        model = SaliencyMap
        fields = [
            "id",
            "uid",
            "image",
            "classifier",
            "method",
            "target_class",
            "parameters",
            "parameters_hash",
            "raw",
            "overlay",
            "heatmap",
            "height",
            "width",
            "device",
            "seconds",
            "versions",
            "scores",
            "created_at",
        ]


class JobIn(serializers.Serializer):
    classifier = serializers.PrimaryKeyRelatedField(queryset=Classifier.objects.all())
    image_set = serializers.PrimaryKeyRelatedField(queryset=ImageSet.objects.all())
    methods = serializers.ListField(child=serializers.CharField(), min_length=1)
    metrics = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    targets = serializers.ListField(
        child=serializers.ChoiceField(["predicted", "truth"]), required=False, default=["predicted"]
    )
    options = serializers.DictField(child=serializers.DictField(), required=False, default=dict)
    batch_size = serializers.IntegerField(required=False, default=8, min_value=1, max_value=256)

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["classifier"].queryset = Classifier.objects.visible_to(user)
        fields["image_set"].queryset = ImageSet.objects.visible_to(user)


class JobOut(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True)

    class Meta:
        model = PrecomputeJob
        fields = [
            "id",
            "uid",
            "classifier",
            "image_set",
            "methods",
            "metrics",
            "targets",
            "options",
            "batch_size",
            "state",
            "total",
            "completed",
            "failed",
            "progress",
            "errors",
            "created_at",
            "started_at",
            "finished_at",
            "compute_seconds",
        ]
