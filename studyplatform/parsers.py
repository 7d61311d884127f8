"""The API's JSON parser: hostile JSON is a 400 with a message, never a server error."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    """DRF's parser, plus: nesting deep enough to exhaust the recursion limit, and NUL
    characters anywhere, are a ParseError.

    ``json.load`` raises ``RecursionError`` (not ``ValueError``) on ``[[[[...]]]]`` a few thousand
    levels deep; DRF lets it through as a 500.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        if _contains_nul(data):
            raise ParseError("JSON parse error - strings must not contain NUL (\\u0000)")
        return data


def _contains_nul(data: Any) -> bool:
    """Whether any string (value or key) holds U+0000, which PostgreSQL cannot store."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
