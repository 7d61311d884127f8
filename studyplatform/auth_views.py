"""Login with a limit on failed attempts per client (HTTP 429 once exceeded)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from studyplatform.ratelimit import LOGIN_FAILURES, client_key, is_limited, record


class RateLimitedLoginView(auth_views.LoginView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        key = client_key(request)
        if is_limited(LOGIN_FAILURES, key):
            minutes = LOGIN_FAILURES.window_seconds // 60
            return render(
                request,
                "registration/login.html",
                {"form": self.get_form(), "locked": minutes},
                status=429,
            )
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:  # the form was redisplayed: a failed attempt
            record(LOGIN_FAILURES, key)
        return response
