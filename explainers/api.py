"""REST API of the explainers app: thin views over the services; one error format.

Besides the JSON routes, the files of images and maps (``image-file``, ``map-file``): the site
serves no media URL, so every photograph, overlay, heat map and raw map goes through a view that
checks the viewer may see its row (:mod:`explainers.selectors`), for a browser's session as for
an API token.
"""

from __future__ import annotations

import mimetypes
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any
from uuid import UUID

from django.core.files.storage import default_storage
from django.db.models import Count, QuerySet
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.utils.cache import get_conditional_response
from django.utils.http import quote_etag
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action, api_view, content_negotiation_class
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from explainers import serializers as s
from explainers.core.render import DEFAULT, Presentation
from explainers.models import Classifier, Image, ImageSet, SaliencyMap
from explainers.selectors import (
    images_visible_to,
    job_cancellable_by,
    jobs_visible_to,
    maps_visible_to,
)
from explainers.services import map_storage
from explainers.services.classifiers import ClassifierError, classifier_upload
from explainers.services.image_sets import image_set_import
from explainers.services.image_sources import SourceError
from explainers.services.precompute import JobError, precompute_job_cancel, precompute_job_create
from explainers.services.rendering import (
    PresentationError,
    map_preview_png,
    presentation_from_query,
)


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
        except ClassifierError as error:  # "field: why": keyed by the field it names
            field, _, message = str(error).partition(": ")
            known = field in s.ClassifierUploadIn().fields
            raise ValidationError({field if message and known else "file": [str(error)]}) from None
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
        data = s.ImageSetUploadIn(data=request.data, user=request.user)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        classes: Classifier | None = v.get("classes_of")
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
                    classifier=classes,
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


def _id_filter(request: Request, name: str) -> int | None:
    """The query parameter ``name`` as a row id; a clear 400 when it is not one."""
    value = request.query_params.get(name, "")
    if not value:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise ValidationError({name: [f"must be an id (a whole number), not {value[:40]!r}"]})
    return int(value)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("image_set", int, description="Only maps of this image set."),
            OpenApiParameter("classifier", int, description="Only maps of this classifier."),
            OpenApiParameter("method", str, description="Only maps of this method."),
        ]
    )
)
class SaliencyMapViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = s.SaliencyMapOut

    def get_queryset(self) -> QuerySet[SaliencyMap]:
        queryset = maps_visible_to(self.request.user).prefetch_related("scores")
        image_set = _id_filter(self.request, "image_set")
        classifier = _id_filter(self.request, "classifier")
        method = self.request.query_params.get("method")
        if image_set is not None:
            queryset = queryset.filter(image__image_set_id=image_set)
        if method:
            queryset = queryset.filter(method=method)
        if classifier is not None:
            queryset = queryset.filter(classifier_id=classifier)
        return queryset.order_by("id")


class PrecomputeJobViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.JobOut

    def get_queryset(self):
        return jobs_visible_to(self.request.user).order_by("-created_at")

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
        job = self.get_object()
        if not job_cancellable_by(job, request.user):
            raise PermissionDenied("only the job's owner (or staff) may cancel it")
        job = precompute_job_cancel(job=job)
        return Response(s.JobOut(job).data)


# --- files ----------------------------------------------------------------------------------

# Every file's bytes are fixed for its URL: an image is stored under the SHA-256 of its bytes;
# a map's files under a hash of the map's identity (image, classifier, method, class,
# parameters), written before its row exists and never replaced while the row lives. So the
# browser may keep them (privately: they are not public) without asking again.
FILE_CACHE_CONTROL = "private, max-age=31536000, immutable"
MAP_FILES = ("raw", "overlay", "heatmap")


class _AnyAccept(BaseContentNegotiation):
    """A file is what it is: the Accept header (``image/*`` from an ``<img>``) chooses no
    renderer; errors are the API's JSON."""

    def select_parser(self, request: Any, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        return renderers[0], renderers[0].media_type


def _file_response(request: Request, name: str, etag: str, download: str) -> HttpResponseBase:
    """Stream ``name`` from the storage with caching headers; 304 when the client has it."""
    if not name:
        raise Http404("the file is missing from the storage")
    download_name = download + PurePosixPath(name).suffix
    signed = map_storage.signed_url(name, filename=download_name, cache_control=FILE_CACHE_CONTROL)
    if signed is not None:  # object storage: the bucket serves it, the caller was checked
        redirect_to = HttpResponseRedirect(signed)
        redirect_to["Cache-Control"] = "private, no-store"  # the signed URL expires
        return redirect_to
    if not default_storage.exists(name):
        raise Http404("the file is missing from the storage")
    headers = {"ETag": quote_etag(etag), "Cache-Control": FILE_CACHE_CONTROL}
    response: HttpResponseBase | None = get_conditional_response(request, etag=headers["ETag"])
    if response is None:
        response = FileResponse(  # named after the row: the stored name stays on the server
            default_storage.open(name, "rb"),
            content_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
            filename=download_name,
        )
    for header, value in headers.items():
        response[header] = value
    return response


_FILE_SCHEMA = extend_schema(
    responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 304: None},
)


@_FILE_SCHEMA
@api_view(["GET"])
@content_negotiation_class(_AnyAccept)
def image_file(request: Request, uid: UUID) -> HttpResponseBase:
    """An image's file (PNG, JPEG…), for those who may see its image set."""
    image = get_object_or_404(images_visible_to(request.user), uid=uid)
    return _file_response(request, image.file.name or "", image.sha256, str(image.uid))


@_FILE_SCHEMA
@api_view(["GET"])
@content_negotiation_class(_AnyAccept)
def map_file(request: Request, uid: UUID, kind: str) -> HttpResponseBase:
    """A saliency map's file: ``overlay`` (the map drawn over its image) or ``heatmap`` (the
    coloured map alone), both PNG, or ``raw`` (float16 ``.npy``), for those who may see both its
    image set and its classifier.

    ``overlay`` and ``heatmap`` take a presentation in the query (``preset=<name>`` or its
    settings, e.g. ``scaling=percentile&percentile=2&composition=saliency_opacity``) and are then
    served from its stored render or drawn now from the raw map; without one, the map's stored
    render (the legacy file of maps computed before presentations existed, else the default
    presentation's), or 404.
    """
    if kind not in MAP_FILES:
        raise Http404(f"no such map file; choose one of {', '.join(MAP_FILES)}")
    saliency_map = get_object_or_404(maps_visible_to(request.user), uid=uid)
    if kind == "raw":
        name = saliency_map.raw.name or ""
        return _file_response(request, name, f"{PurePosixPath(name).stem}-raw", f"{uid}-raw")
    try:
        presentation = presentation_from_query(request.query_params)
    except PresentationError as error:
        raise ValidationError({"presentation": [str(error)]}) from None
    stored = _stored_render(saliency_map, kind, presentation)
    if stored or presentation is None:
        etag = f"{PurePosixPath(stored).stem}-{kind}"
        return _file_response(request, stored, etag, f"{saliency_map.uid}-{kind}")
    # drawn now; the same raw map and settings always give the same bytes, so it caches as a file
    convention = presentation or DEFAULT
    etag = quote_etag(
        f"{PurePosixPath(saliency_map.raw.name or '').stem}-{convention.key[:16]}-{kind}"
    )
    response = get_conditional_response(request, etag=etag)
    if response is None:
        try:
            png = map_preview_png(saliency_map=saliency_map, presentation=convention, kind=kind)
        except (OSError, ValueError):
            raise Http404("the map's raw file is missing or unreadable") from None
        response = HttpResponse(png, content_type="image/png")
    response["ETag"] = etag
    response["Cache-Control"] = FILE_CACHE_CONTROL
    return response


def _stored_render(saliency_map: SaliencyMap, kind: str, presentation: Presentation | None) -> str:
    """The stored file of the map under ``presentation`` (None: legacy file, else default)."""
    if presentation is None and getattr(saliency_map, kind).name:
        return str(getattr(saliency_map, kind).name)
    key = (presentation or DEFAULT).key
    row = saliency_map.renders.filter(presentation_key=key).first()
    if row is None:
        return ""
    return str((row.image if kind == "overlay" else row.heatmap).name)
