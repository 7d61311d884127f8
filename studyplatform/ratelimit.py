"""Fixed-window rate limits kept in Django's cache (Redis in production, memory otherwise).

Used to slow down password guessing on the login page and participant-code guessing on the
participant entry points.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.shortcuts import render


@dataclass(frozen=True)
class Limit:
    name: str
    attempts: int
    window_seconds: int


LOGIN_FAILURES = Limit("login", attempts=10, window_seconds=15 * 60)
CODE_GUESSES = Limit("participant-code", attempts=30, window_seconds=10 * 60)


def client_address(request: HttpRequest) -> str:
    """The client's address: ``REMOTE_ADDR``, or behind ``TRUSTED_PROXIES`` reverse proxies the
    address the outermost of them saw (the N-th ``X-Forwarded-For`` entry from the right).

    The entries to the left of it are written by the client and can be anything: keying a limit
    on them would let every request claim a new address.
    """
    proxies = int(getattr(settings, "TRUSTED_PROXIES", 0))
    remote = str(request.META.get("REMOTE_ADDR", ""))
    if proxies <= 0:
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [h for h in hops if h]
    return hops[-proxies] if len(hops) >= proxies else (hops[0] if hops else remote)


def client_key(request: HttpRequest, *extra: str) -> str:
    """Who is asking, as a cache key: the client address (see :func:`client_address`)."""
    address = client_address(request)
    return hashlib.sha256("|".join([address, *extra]).encode()).hexdigest()[:32]


def _cache_key(limit: Limit, key: str) -> str:
    window = int(time.time() // limit.window_seconds)
    return f"ratelimit:{limit.name}:{key}:{window}"


def is_limited(limit: Limit, key: str) -> bool:
    return int(cache.get(_cache_key(limit, key), 0)) >= limit.attempts


def record(limit: Limit, key: str) -> int:
    cache_key = _cache_key(limit, key)
    cache.add(cache_key, 0, timeout=limit.window_seconds)
    try:
        return int(cache.incr(cache_key))
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=limit.window_seconds)
        return 1


def retry_after(limit: Limit) -> int:
    """Seconds until the current window of ``limit`` ends."""
    return limit.window_seconds - int(time.time()) % limit.window_seconds


class CodeGuessLimitMiddleware:
    """Slows down guessing of participant codes and study-link tokens.

    Every URL with a ``code`` or ``token`` argument (the participant's pages, images and API,
    the study link) is a credential check: a 404 there is a failed guess. A client with
    ``CODE_GUESSES.attempts`` failed guesses in the window gets HTTP 429 on all such URLs, with
    the right code or not, until the window ends; participants with their real link never fail.
    """

    GUARDED = ("code", "token")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def _guarded(self, request: HttpRequest) -> bool:
        match = getattr(request, "resolver_match", None)
        return match is not None and any(name in match.kwargs for name in self.GUARDED)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if response.status_code == 404 and self._guarded(request):
            record(CODE_GUESSES, client_key(request))
        return response

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponseBase],
        view_args: Any,
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        if not any(name in view_kwargs for name in self.GUARDED):
            return None
        if not is_limited(CODE_GUESSES, client_key(request)):
            return None
        return too_many_guesses(request)


def too_many_guesses(request: HttpRequest) -> HttpResponseBase:
    """HTTP 429 in the API's error format (JSON) or as a plain page."""
    wait = retry_after(CODE_GUESSES)
    message = (
        "Too many requests with an unknown participant code or study link from your network. "
        f"Please try again in {max(1, wait // 60)} minutes, using the link you were given."
    )
    response: HttpResponseBase
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {"error": {"code": "rate_limited", "message": message, "details": {}}}, status=429
        )
    else:
        response = render(request, "participant/unavailable.html", {"message": message}, status=429)
    response["Retry-After"] = str(wait)
    return response
