"""API input and output serializers of the explainers app (explicit, one per use)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
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
    classes_of = serializers.CharField(
        required=False,
        max_length=100,
        help_text=(
            "A classifier (its id or name) whose class names turn the labels' class names into "
            "class indices (and indices into names)."
        ),
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def validate_archive(self, archive: Any) -> Any:
        return _at_most(archive, image_sources.MAX_ARCHIVE_BYTES)

    def validate_labels(self, labels: Any) -> Any:
        return _at_most(labels, MAX_LABELS_BYTES)

    def validate_classes_of(self, value: str) -> Classifier:
        """The one classifier this user may see with that id, else with that name."""
        visible = Classifier.objects.visible_to(self.user)
        if value.isascii() and value.isdigit() and len(value) <= 18:
            found = visible.filter(pk=int(value)).first()
            if found is not None:
                return found
        named = list(visible.filter(name=value)[:2])
        if len(named) > 1:
            raise serializers.ValidationError(
                f"several classifiers you can see are called {value!r}: give its id"
            )
        if not named:
            raise serializers.ValidationError(
                f"no classifier you can see has the id or name {value!r}"
            )
        return named[0]


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


def _file_url(serializer: serializers.Serializer, route: str, *args: object) -> str:
    """A file view's URL: absolute when the serializer has the request, like ``FileField``."""
    path = reverse(route, args=args)
    request = serializer.context.get("request")
    return request.build_absolute_uri(path) if request is not None else path


class ImageOut(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="The image file (for those who see its set).")

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

    @extend_schema_field(OpenApiTypes.URI)
    def get_url(self, obj: Image) -> str:
        return _file_url(self, "image-file", obj.uid)


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
    raw = serializers.SerializerMethodField(help_text="The map as a float16 .npy array, h×w.")
    overlay = serializers.SerializerMethodField(
        help_text="The map drawn over its image (PNG), under the default presentation; other "
        "presentations by query (preset=<name>, or their settings)."
    )
    heatmap = serializers.SerializerMethodField(
        help_text="The map alone, coloured (PNG); presentations as for overlay."
    )

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

    def _url(self, obj: SaliencyMap, kind: str) -> str | None:
        return _file_url(self, "map-file", obj.uid, kind) if getattr(obj, kind) else None

    @extend_schema_field(OpenApiTypes.URI)
    def get_raw(self, obj: SaliencyMap) -> str | None:
        return self._url(obj, "raw")

    def _drawn(self, obj: SaliencyMap, kind: str) -> str | None:
        """A legacy map's stored file as before; other maps drawn under the default preset."""
        if getattr(obj, kind):
            return self._url(obj, kind)
        url = _file_url(self, "map-file", obj.uid, kind)
        return f"{url}?preset=default" if url and obj.raw else None

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_overlay(self, obj: SaliencyMap) -> str | None:
        return self._drawn(obj, "overlay")

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_heatmap(self, obj: SaliencyMap) -> str | None:
        return self._drawn(obj, "heatmap")


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
            "warnings",
            "created_at",
            "started_at",
            "finished_at",
            "compute_seconds",
        ]
