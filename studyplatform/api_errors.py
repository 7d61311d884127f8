"""One error format for the whole API: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

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


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    details = response.data
    code = getattr(exc, "default_code", "error")
    response.data = {
        "error": {"code": code, "message": _first_message(details), "details": details}
    }
    return response
