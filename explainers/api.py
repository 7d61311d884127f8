"""REST API of the explainers app: thin views over the services; one error format."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.db.models import Count
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from explainers import serializers as s
from explainers.models import Classifier, Image, ImageSet, PrecomputeJob, SaliencyMap
from explainers.services.classifiers import ClassifierError, classifier_upload
from explainers.services.image_sets import image_set_import
from explainers.services.image_sources import SourceError
from explainers.services.precompute import JobError, precompute_job_cancel, precompute_job_create


class ClassifierViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.ClassifierOut

    def get_queryset(self):
        return Classifier.objects.visible_to(self.request.user).order_by("name", "id")

    @extend_schema(request=s.ClassifierUploadIn, responses={201: s.ClassifierOut})
    @action(detail=False, methods=["post"], parser_classes=[MultiPartParser, FormParser])
    def upload(self, request: Request) -> Response:
        data = s.ClassifierUploadIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            row = classifier_upload(
                owner=request.user,
                name=v["name"],
                data=v["file"].read(),
                source=v["source"],
                class_names=v["class_names"],
                architecture=v["architecture"],
                target_layer=v["target_layer"],
                input_size=v["input_size"],
            )
        except ClassifierError as error:
            raise ValidationError({"file": [str(error)]}) from None
        return Response(s.ClassifierOut(row).data, status=status.HTTP_201_CREATED)


class ImageSetViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.ImageSetOut

    def get_queryset(self):
        return (
            ImageSet.objects.visible_to(self.request.user)
            .annotate(n_images=Count("images"))
            .order_by("name", "id")
        )

    @extend_schema(request=s.ImageSetUploadIn, responses={201: s.ImportReportOut})
    @action(detail=False, methods=["post"], parser_classes=[MultiPartParser, FormParser])
    def upload(self, request: Request) -> Response:
        data = s.ImageSetUploadIn(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        with tempfile.TemporaryDirectory() as folder:
            archive = Path(folder) / "upload.zip"
            with archive.open("wb") as handle:
                for chunk in v["archive"].chunks():
                    handle.write(chunk)
            try:
                report = image_set_import(
                    name=v["name"],
                    source=archive,
                    owner=request.user,
                    labels_csv=v["labels"].read() if v.get("labels") else None,
                    description=v["description"],
                )
            except SourceError as error:
                raise ValidationError({"archive": [str(error)]}) from None
        image_set = ImageSet.objects.annotate(n_images=Count("images")).get(pk=report.image_set.pk)
        body = {
            "image_set": s.ImageSetOut(image_set).data,
            "added": report.added,
            "duplicates": report.duplicates,
            "rejected": [{"file": name, "error": problem} for name, problem in report.rejected],
        }
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.ImageOut(many=True))
    @action(detail=True, methods=["get"])
    def images(self, request: Request, pk: str | None = None) -> Response:
        image_set = self.get_object()
        page = self.paginate_queryset(Image.objects.filter(image_set=image_set))
        return self.get_paginated_response(
            s.ImageOut(page, many=True, context={"request": request}).data
        )


class SaliencyMapViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.SaliencyMapOut

    def get_queryset(self):
        sets = ImageSet.objects.visible_to(self.request.user)
        queryset = SaliencyMap.objects.filter(image__image_set__in=sets).prefetch_related("scores")
        params = self.request.query_params
        if params.get("image_set"):
            queryset = queryset.filter(image__image_set_id=params["image_set"])
        if params.get("method"):
            queryset = queryset.filter(method=params["method"])
        if params.get("classifier"):
            queryset = queryset.filter(classifier_id=params["classifier"])
        return queryset.order_by("id")


class PrecomputeJobViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.JobOut

    def get_queryset(self):
        return PrecomputeJob.objects.visible_to(self.request.user).order_by("-created_at")

    @extend_schema(request=s.JobIn, responses={201: s.JobOut})
    def create(self, request: Request) -> Response:
        data = s.JobIn(data=request.data, user=request.user)
        data.is_valid(raise_exception=True)
        try:
            job = precompute_job_create(owner=request.user, **data.validated_data)
        except JobError as error:
            field, _, message = str(error).partition(": ")
            raise ValidationError(
                {field if message else "non_field_errors": [str(error)]}
            ) from None
        return Response(s.JobOut(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.JobOut)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        job = precompute_job_cancel(job=self.get_object())
        return Response(s.JobOut(job).data)
