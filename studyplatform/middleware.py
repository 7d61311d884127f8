"""Security headers Django does not set by itself (Content-Security-Policy, Permissions-Policy),
and a guard against NUL characters, which PostgreSQL cannot store in text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

# Pages load scripts, styles and images from this site only (images also from the bucket's
# endpoint with object storage: signed URLs point there). Swagger UI (the API docs) needs
# inline scripts and is exempt from script-src.
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
    "form-action 'self'"
)
CSP_DOCS = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


def image_origins() -> list[str]:
    """The origins the browser loads media from besides this site (the Content-Security-Policy's
    ``img-src``): with object storage, the endpoint that signed URLs name."""
    entry: dict[str, Any] = dict(settings.STORAGES.get("default", {}))  # type: ignore[call-overload]
    backend = str(entry.get("BACKEND", ""))
    options: dict[str, Any] = entry.get("OPTIONS", {}) if backend.endswith("MediaStorage") else {}
    if not options:
        return []
    endpoint = options.get("public_endpoint_url") or options.get("endpoint_url")
    if endpoint:
        parts = urlsplit(str(endpoint))
        return [f"{parts.scheme}://{parts.netloc}"]
    bucket, region = options.get("bucket_name"), options.get("region_name") or "us-east-1"
    return [f"https://{bucket}.s3.amazonaws.com", f"https://{bucket}.s3.{region}.amazonaws.com"]


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = CSP_DOCS if request.path.startswith("/api/docs") else CSP
        origins = image_origins()  # object storage: images come by signed URL from the bucket
        if origins:
            policy = policy.replace("img-src 'self'", "img-src 'self' " + " ".join(origins))
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


class RejectNulMiddleware:
    """A NUL character in the path, the query, a cookie or a form body is a 400 at once.

    PostgreSQL text and jsonb cannot hold U+0000: such a value reaching a query is a DataError
    (a 500) instead of a clear answer, and SQLite would store it silently. JSON bodies are
    checked by the API's parser (``studyplatform.parsers``); uploads by their serializers.
    """

    FORM = "application/x-www-form-urlencoded"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def _has_nul(self, request: HttpRequest) -> bool:
        meta = request.META
        raw = [meta.get("PATH_INFO", ""), meta.get("QUERY_STRING", ""), meta.get("HTTP_COOKIE", "")]
        if any("\x00" in part or b"\x00" in unquote_to_bytes(part) for part in raw):
            return True
        if request.method == "POST" and request.content_type == self.FORM:
            return b"\x00" in unquote_to_bytes(request.body.replace(b"+", b" "))
        return False

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self._has_nul(request):
            return self.get_response(request)
        message = "the request contains a NUL character (\\x00), which is never valid here"
        if request.path.startswith("/api/"):
            body = {"error": {"code": "invalid_request", "message": message, "details": {}}}
            return JsonResponse(body, status=400)
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
