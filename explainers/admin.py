"""Admin for classifiers, image sets, maps, scores and precompute jobs (with progress)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from explainers.models import (
    Classifier,
    FaithfulnessScore,
    Image,
    ImageSet,
    PrecomputeJob,
    PrecomputeUnit,
    Prediction,
    SaliencyMap,
)
from explainers.services.precompute import precompute_job_cancel


@admin.register(Classifier)
class ClassifierAdmin(admin.ModelAdmin):
    list_display = ["name", "source", "owner", "input_size", "created_at"]
    list_filter = ["source"]
    search_fields = ["name"]
    readonly_fields = ["sha256", "uid"]


class ImageInline(admin.TabularInline):
    model = Image
    fields = ("original_name", "label", "label_index", "width", "height")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(ImageSet)
class ImageSetAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "created_at"]
    search_fields = ["name"]
    inlines = [ImageInline]


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["original_name", "image_set", "label", "label_index", "width", "height"]
    list_filter = ["image_set"]
    search_fields = ["original_name", "label", "sha256"]


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ["image", "classifier", "predicted_class", "probability"]
    list_filter = ["classifier"]


@admin.register(SaliencyMap)
class SaliencyMapAdmin(admin.ModelAdmin):
    list_display = ["image", "classifier", "method", "target_class", "device", "seconds"]
    list_filter = ["method", "classifier", "device"]


@admin.register(FaithfulnessScore)
class FaithfulnessScoreAdmin(admin.ModelAdmin):
    list_display = ["saliency_map", "metric", "value"]
    list_filter = ["metric"]


@admin.action(description="Cancel the selected jobs")
def cancel_jobs(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    for job in queryset:
        precompute_job_cancel(job=job)


@admin.register(PrecomputeJob)
class PrecomputeJobAdmin(admin.ModelAdmin):
    list_display = [
        "uid",
        "classifier",
        "image_set",
        "state",
        "completed",
        "failed",
        "total",
        "created_at",
    ]
    list_filter = ["state"]
    readonly_fields = [
        "total",
        "completed",
        "failed",
        "errors",
        "started_at",
        "finished_at",
        "compute_seconds",
        "heartbeat_at",
    ]
    actions = [cancel_jobs]


@admin.register(PrecomputeUnit)
class PrecomputeUnitAdmin(admin.ModelAdmin):
    list_display = ["job", "method", "state", "attempts", "updated_at"]
    list_filter = ["state", "method"]
