"""Researcher pages of the explainers app: precompute jobs with live progress, the gallery."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST

from explainers.core.render import DEFAULT, PRESETS
from explainers.gallery import (
    SHOW_CHOICES,
    GalleryError,
    gallery_page,
    gallery_sources,
    presentation_sample_maps,
)
from explainers.selectors import job_cancellable_by, jobs_visible_to
from explainers.services.precompute import precompute_job_cancel
from explainers.services.rendering import (
    PresentationError,
    presentation_fields,
    presentation_from_query,
)


@login_required
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = jobs_visible_to(request.user).select_related("classifier", "image_set")
    return render(request, "researcher/job_list.html", {"jobs": jobs[:100]})


@login_required
@require_GET
def job_detail(request: HttpRequest, uid: str) -> HttpResponse:
    job = get_object_or_404(jobs_visible_to(request.user), uid=uid)
    return render(
        request,
        "researcher/job_detail.html",
        {"job": job, "can_cancel": job_cancellable_by(job, request.user)},
    )


@login_required
@require_POST
def job_cancel(request: HttpRequest, uid: str) -> HttpResponse:
    job = get_object_or_404(jobs_visible_to(request.user), uid=uid)
    if not job_cancellable_by(job, request.user):
        messages.error(request, "Only the job's owner (or staff) may cancel it.")
        return redirect("precompute-job", uid=job.uid)
    precompute_job_cancel(job=job)
    messages.info(request, "The job was cancelled; maps already computed are kept.")
    return redirect("precompute-job", uid=job.uid)


@login_required
@require_GET
def gallery(request: HttpRequest) -> HttpResponse:
    """Saliency maps side by side by method, with their faithfulness scores."""
    classifier_uid, _, image_set_uid = request.GET.get("source", "").partition("|")
    try:
        presentation = presentation_from_query(request.GET) or DEFAULT
    except PresentationError as error:
        messages.error(request, str(error))
        return redirect("gallery")
    try:
        result = gallery_page(
            user=request.user,
            classifier_uid=classifier_uid,
            image_set_uid=image_set_uid,
            show=request.GET.get("show", "all"),
            target=request.GET.get("target", "predicted"),
            page=request.GET.get("page", 1),
            presentation=presentation,
        )
    except GalleryError as error:
        messages.error(request, str(error))
        return redirect("gallery")
    return render(
        request,
        "researcher/gallery.html",
        {
            "gallery": result,
            "sources": gallery_sources(request.user),
            "show_choices": SHOW_CHOICES,
            "presets": PRESETS,
            "presentation_fields": presentation_fields(presentation),
        },
    )


@require_GET
@cache_control(public=True, max_age=86400)
def colormap_legend(request: HttpRequest) -> HttpResponse:
    """The colour bar of a colour map (``?cmap=``, one of ``render.COLORMAPS``; default viridis),
    low to high, as a PNG. Its text labels are the page's, so they can be read out."""
    from explainers.core import render as core_render

    cmap = request.GET.get("cmap", core_render.DEFAULT_CMAP)
    if cmap not in core_render.COLORMAPS:
        return HttpResponse(
            f"cmap: choose one of {', '.join(core_render.COLORMAPS)}",
            status=400,
            content_type="text/plain",
        )
    image = core_render.colorbar(cmap, length=256, thickness=14)
    response = HttpResponse(core_render.to_png(image), content_type="image/png")
    # the same bar for a colour map every time: a participant's trials fetch it once (issue 22)
    response["Cache-Control"] = "public, max-age=86400"
    return response


@login_required
@require_GET
def presentation_sample(request: HttpRequest) -> JsonResponse:
    """One image with one map per method (``?classifier=<id>&image_set=<id>&methods=a,b``), as
    URLs that take a presentation's query: the designer's live preview."""
    from explainers.selectors import maps_visible_to

    try:
        classifier = int(request.GET.get("classifier", ""))
        image_set = int(request.GET.get("image_set", ""))
    except ValueError:
        return JsonResponse({"error": "choose a classifier and an image set"}, status=400)
    methods = [m.strip() for m in request.GET.get("methods", "").split(",") if m.strip()][:12]
    sample = presentation_sample_maps(
        maps=maps_visible_to(request.user),
        classifier_id=classifier,
        image_set_id=image_set,
        methods=methods,
    )
    return JsonResponse(
        {
            "maps": [
                {"method": m.method, "url": reverse("map-file", args=[m.uid, "overlay"])}
                for m in sample
            ],
            "missing": [m for m in methods if m not in {s.method for s in sample}],
        }
    )
