"""One error format for the whole API: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def _first_message(details: Any) -> str:
    if isinstance(details, dict):
        for key, value in details.items():
            text = _first_message(value)
            return text if key in ("detail", "non_field_errors") else f"{key}: {text}"
    if isinstance(details, list) and details:
        return _first_message(details[0])
    return str(details)


def _request_too_big(exc: Exception) -> Exception:
    """Django's limits on a request body (SuspiciousOperation: an HTML 400) as API errors."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return ParseError(f"the request body is too large (at most {limit} bytes)")
    if isinstance(exc, TooManyFieldsSent):
        return ParseError(
            f"the request has too many fields (at most {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS})"
        )
    if isinstance(exc, TooManyFilesSent):
        return ParseError(
            f"the request has too many files (at most {settings.DATA_UPLOAD_MAX_NUMBER_FILES})"
        )
    return exc


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    exc = _request_too_big(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    details = response.data
    code = getattr(exc, "default_code", "error")
    response.data = {
        "error": {"code": code, "message": _first_message(details), "details": details}
    }
    return response
