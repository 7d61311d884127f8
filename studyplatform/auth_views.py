"""Logins with a limit on failed attempts per client (HTTP 429 once exceeded): the researchers'
login page and the admin site's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from studyplatform.ratelimit import LOGIN_FAILURES, client_key, is_limited, record


def limited_login(
    request: HttpRequest, attempt: Callable[[], HttpResponse], locked: Callable[[], HttpResponse]
) -> HttpResponse:
    """Run a login POST unless the client has used up its failed attempts; a redisplayed form
    (200) counts as one failure."""
    key = client_key(request)
    if is_limited(LOGIN_FAILURES, key):
        return locked()
    response = attempt()
    if response.status_code == 200:
        record(LOGIN_FAILURES, key)
    return response


class RateLimitedLoginView(auth_views.LoginView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return limited_login(
            request,
            lambda: super(RateLimitedLoginView, self).post(request, *args, **kwargs),
            lambda: render(
                request,
                "registration/login.html",
                {"form": self.get_form(), "locked": LOGIN_FAILURES.window_seconds // 60},
                status=429,
            ),
        )


class StudyAdminSite(admin.AdminSite):
    """The admin site, whose login page has the same limit as the researchers' one."""

    site_header = "Saliency study platform"
    site_title = "Study platform admin"

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        if request.method != "POST":
            return super().login(request, extra_context)
        minutes = LOGIN_FAILURES.window_seconds // 60
        return limited_login(
            request,
            lambda: _rendered(super(StudyAdminSite, self).login(request, extra_context)),
            lambda: HttpResponse(
                f"Too many failed attempts from your address. Please wait {minutes} minutes "
                "and try again.",
                status=429,
                content_type="text/plain; charset=utf-8",
            ),
        )


def _rendered(response: Any) -> HttpResponse:
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    return response
