"""Fixed-window rate limits kept in Django's cache (Redis in production, memory otherwise).

Used to slow down password guessing on the login page and participant-code guessing on the
participant entry points.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.http import HttpRequest


@dataclass(frozen=True)
class Limit:
    name: str
    attempts: int
    window_seconds: int


LOGIN_FAILURES = Limit("login", attempts=10, window_seconds=15 * 60)
CODE_GUESSES = Limit("participant-code", attempts=30, window_seconds=10 * 60)


def client_key(request: HttpRequest, *extra: str) -> str:
    """Who is asking: the client address (first hop of X-Forwarded-For behind a proxy)."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    address = forwarded.split(",")[0].strip() or request.META.get("REMOTE_ADDR", "")
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
