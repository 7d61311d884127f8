"""Researcher pages of the explainers app: precompute jobs with live progress."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from explainers.models import PrecomputeJob
from explainers.services.precompute import precompute_job_cancel


@login_required
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = PrecomputeJob.objects.visible_to(request.user).select_related("classifier", "image_set")
    return render(request, "researcher/job_list.html", {"jobs": jobs[:100]})


@login_required
@require_GET
def job_detail(request: HttpRequest, uid: str) -> HttpResponse:
    job = get_object_or_404(PrecomputeJob.objects.visible_to(request.user), uid=uid)
    return render(request, "researcher/job_detail.html", {"job": job})


@login_required
@require_POST
def job_cancel(request: HttpRequest, uid: str) -> HttpResponse:
    job = get_object_or_404(PrecomputeJob.objects.visible_to(request.user), uid=uid)
    precompute_job_cancel(job=job)
    messages.info(request, "The job was cancelled; maps already computed are kept.")
    return redirect("precompute-job", uid=job.uid)
