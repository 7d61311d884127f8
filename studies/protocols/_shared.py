"""Helpers shared by protocol modules (Likert items, captions, subsets)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from studies.protocols.base import ResponseError

T = TypeVar("T")

DEFAULT_LABELS: dict[int, list[str]] = {
    4: ["Not at all", "Slightly", "Mostly", "Completely"],
    5: ["Not at all", "Slightly", "Moderately", "Very much", "Completely"],
    6: ["Not at all", "Very slightly", "Slightly", "Mostly", "Very much", "Completely"],
    7: [
        "Not at all",
        "Very slightly",
        "Slightly",
        "Moderately",
        "Mostly",
        "Very much",
        "Completely",
    ],
}


def likert_options(points: int, labels: Sequence[str]) -> list[dict[str, Any]]:
    """Scale points 1..points with their labels and keyboard keys."""
    names = list(labels) or DEFAULT_LABELS[points]
    return [{"value": k + 1, "label": names[k], "key": str(k + 1)} for k in range(points)]


def check_scale(points: int, labels: Sequence[str], neutral: bool) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if points not in DEFAULT_LABELS:
        errors["points"] = [f"must be 4, 5, 6 or 7 (got {points})"]
    elif labels and len(labels) != points:
        errors["labels"] = [f"give one label per scale point: {points} labels, not {len(labels)}"]
    if not neutral and points % 2 == 1:
        errors.setdefault("neutral", []).append(
            f"a scale without a neutral point needs an even number of points, not {points}"
        )
    return errors


#: More digits than any scale point, position or option code needs; longer strings are
#: refused before ``int()`` (which raises past Python's 4,300-digit conversion limit).
MAX_DIGITS = 18


def is_ascii_integer(text: str, *, signed: bool = False) -> bool:
    """Whether ``text`` is 1–18 ASCII digits (after an optional ``-`` when ``signed``).

    ``str.isdigit()`` alone also accepts superscripts (``"²"``, which ``int()`` refuses) and
    other scripts' digits (``"٣"``, which ``int()`` reads as 3); neither is a valid answer.
    """
    digits = text[1:] if signed and text.startswith("-") else text
    return 0 < len(digits) <= MAX_DIGITS and digits.isascii() and digits.isdigit()


def parse_int(value: Any) -> int | None:
    """An integer answer from JSON or a form field; None for anything that is not one.

    Strings must be ASCII digits (optionally signed, surrounding blanks allowed).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and is_ascii_integer(value.strip(), signed=True):
        return int(value.strip())
    return None


def read_items(shown: Mapping[str, Any], value: Any) -> dict[str, int]:
    """Answers to every Likert item of a trial: ``{item name: scale point}``."""
    if not isinstance(value, Mapping):
        raise ResponseError("the answer must be an object with one entry per question")
    out: dict[str, int] = {}
    for item in shown["items"]:
        allowed = [o["value"] for o in item["options"]]
        raw = value.get(item["name"])
        if raw in (None, ""):
            raise ResponseError("Please choose an answer for every question.")
        point = parse_int(raw)
        if point is None or point not in allowed:
            raise ResponseError(
                f"{item['name']}: choose one of {allowed[0]}–{allowed[-1]} (got {raw!r})"
            )
        out[item["name"]] = point
    unknown = sorted(set(value) - {item["name"] for item in shown["items"]})
    if unknown:
        raise ResponseError(f"unexpected answer field(s): {', '.join(map(str, unknown))}")
    return out


def subset(items: Sequence[T], limit: int | None, rng: random.Random) -> list[T]:
    """All items in their order, or a random ``limit`` of them (kept in their order)."""
    if limit is None or limit >= len(items):
        return list(items)
    chosen = sorted(rng.sample(range(len(items)), limit))
    return [items[k] for k in chosen]


def quoted(text: str | None) -> str:
    return f"“{text}”" if text else "the class"
