"""Pieces shared by the indirect protocols (model-output simulation, ground-truth prediction)."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

from studies.protocols._shared import likert_options, parse_int
from studies.protocols.base import ResponseError

CONFIDENCE_LABELS = {
    4: ["Not at all confident", "Slightly confident", "Fairly confident", "Very confident"],
    5: [
        "Not at all confident",
        "Slightly confident",
        "Moderately confident",
        "Very confident",
        "Completely confident",
    ],
    7: [
        "Not at all confident",
        "Very slightly confident",
        "Slightly confident",
        "Moderately confident",
        "Fairly confident",
        "Very confident",
        "Completely confident",
    ],
}
YES_NO = [
    {"value": "yes", "label": "Yes", "key": "y"},
    {"value": "no", "label": "No", "key": "n"},
]


def confidence_item(points: int) -> dict[str, Any]:
    return {
        "name": "confidence",
        "prompt": "How confident are you in your answer?",
        "options": likert_options(points, CONFIDENCE_LABELS[points]),
    }


def read_confidence(shown: Mapping[str, Any], value: Mapping[str, Any]) -> int | None:
    """The confidence point, when the trial asks for one."""
    items = shown.get("items") or []
    if not items:
        return None
    allowed = [o["value"] for o in items[0]["options"]]
    raw = value.get("confidence")
    if raw in (None, ""):
        raise ResponseError("Please say how confident you are.")
    point = parse_int(raw)
    if point is None or point not in allowed:
        raise ResponseError(f"confidence: choose one of {allowed[0]}–{allowed[-1]} (got {raw!r})")
    return point


def check_fields(value: Mapping[str, Any], allowed: set[str]) -> None:
    if unknown := sorted(set(value) - allowed):
        raise ResponseError(f"unexpected answer field(s): {', '.join(map(str, unknown))}")


def bot_is_correct(logit: float, rng: random.Random) -> bool:
    """A bot answers correctly with probability sigmoid(``logit``)."""
    return rng.random() < 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, logit))))


def bot_confidence(points: int, correct: bool, rng: random.Random) -> int:
    """Higher confidence for correct answers (upper half of the scale), lower otherwise."""
    middle = (points + 1) // 2
    return rng.randint(middle, points) if correct else rng.randint(1, middle)


def percent(p: float) -> str:
    return f"{100 * p:.0f}%" if p >= 0.01 else "<1%"
