"""Researcher pages of the explainers app: precompute jobs with live progress, the gallery."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST

from explainers.gallery import SHOW_CHOICES, GalleryError, gallery_page, gallery_sources
from explainers.selectors import job_cancellable_by, jobs_visible_to
from explainers.services.precompute import precompute_job_cancel


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
        result = gallery_page(
            user=request.user,
            classifier_uid=classifier_uid,
            image_set_uid=image_set_uid,
            show=request.GET.get("show", "all"),
            target=request.GET.get("target", "predicted"),
            page=request.GET.get("page", 1),
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
        },
    )


@require_GET
@cache_control(public=True, max_age=86400)
def colormap_legend(request: HttpRequest) -> HttpResponse:
    """The colour bar of the maps' colour map (viridis), low to high, as a PNG."""
    from explainers.core import render as core_render

    image = core_render.colorbar(length=256, thickness=14)
    return HttpResponse(core_render.to_png(image), content_type="image/png")
