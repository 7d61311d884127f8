"""Site-wide pages: home, researcher dashboard, health."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from studyplatform.health import check_all


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "researcher/dashboard.html")


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Database and broker reachability as JSON; 200 when both are up, 503 otherwise.

    The endpoint is public (load balancers and container health checks ask it anonymously), so
    everyone sees each service's ``ok`` and latency; only staff users see the details (the
    broker's URL, the database's error text), which describe the infrastructure.
    """
    statuses = check_all()
    ok = all(status.ok for status in statuses)
    staff = bool(request.user.is_authenticated and request.user.is_staff)
    body = {
        "status": "ok" if ok else "unavailable",
        "services": {
            status.name: (
                status.as_dict() if staff else {"ok": status.ok, "latency_ms": status.latency_ms}
            )
            for status in statuses
        },
    }
    return JsonResponse(body, status=200 if ok else 503)
