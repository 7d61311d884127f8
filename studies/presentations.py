"""A study's presentations: how its maps are drawn for participants.

A presentation is a convention of ``explainers.core.render`` (scaling, sign, smoothing,
composition, colour map), recorded by the study under a name. A study shows its maps under one
presentation, or under several as a between-subjects factor ``presentation`` (each participant
sees one), so that a researcher can test the effect of the rendering itself. The selection stores
``presentations`` as a list of ``{"name": …, <settings>}``; a study stored before presentations
existed has none and keeps showing what it showed: the ``legacy`` convention.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from explainers.core.render import DEFAULT, LEGACY, PRESETS, Presentation, legend_labels

MAX_PRESENTATIONS = 4
FACTOR = "presentation"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


def default_presentations() -> list[dict[str, Any]]:
    return [{"name": "default", **DEFAULT.to_dict()}]


def validate_presentations(value: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """``(presentations, errors)`` from a preset name, or a list of preset names and objects
    ``{"name": …, "preset": …, <settings>}`` (settings override the preset's; default preset
    "default"). Names must be unique: they are the levels of the ``presentation`` factor."""
    if value is None:
        return default_presentations(), []
    items = [value] if isinstance(value, str | Mapping) else value
    if not isinstance(items, list) or not items:
        return [], ["give a preset name, or a list of 1 to 4 presentations"]
    if len(items) > MAX_PRESENTATIONS:
        return [], [f"at most {MAX_PRESENTATIONS} presentations (a between-subjects factor)"]
    out: list[dict[str, Any]] = []
    errors: list[str] = []
    for k, item in enumerate(items):
        entry, problem = _one(item, k)
        if problem:
            errors.append(problem)
        elif entry["name"] in {e["name"] for e in out}:
            errors.append(f"presentation {entry['name']!r} is named twice")
        else:
            out.append(entry)
    return (out, []) if not errors else ([], errors)


def _one(item: Any, k: int) -> tuple[dict[str, Any], str]:
    if isinstance(item, str):
        item = {"name": item, "preset": item}
    if not isinstance(item, Mapping):
        return {}, f"presentation {k + 1}: expected a preset name or an object"
    settings = dict(item)
    preset = settings.pop("preset", None)
    name = settings.pop("name", preset or ("default" if k == 0 else f"presentation-{k + 1}"))
    if not isinstance(name, str) or not _NAME.match(name):
        return {}, (f"presentation {k + 1}: name {name!r} must be 1–40 letters, digits, '-' or '_'")
    base = PRESETS.get(str(preset or "default"))
    if base is None:
        return {}, f"presentation {name!r}: unknown preset {preset!r} (known: {', '.join(PRESETS)})"
    try:
        convention = Presentation.from_dict({**base.to_dict(), **settings})
    except (TypeError, ValueError) as error:
        return {}, f"presentation {name!r}: {error}"
    return {"name": name, **convention.to_dict()}, ""


def presentation_of(entry: Mapping[str, Any]) -> Presentation:
    return Presentation.from_dict({k: v for k, v in entry.items() if k != "name"})


def study_presentations(selection: Mapping[str, Any]) -> list[tuple[str, Presentation]]:
    """The study's presentations by name, in order (a study from before they existed: legacy)."""
    entries = selection.get("presentations")
    if not entries:
        return [("legacy", LEGACY)]
    return [(str(e["name"]), presentation_of(e)) for e in entries]


def is_factor(selection: Mapping[str, Any]) -> bool:
    return len(selection.get("presentations") or ()) > 1


def legend(presentation: Presentation) -> dict[str, Any]:
    """What the participant's colour-scale legend shows for ``presentation`` (no answer in it)."""
    if presentation.composition == "mask":
        return {
            "kind": "mask",
            "text": f"Only the {presentation.top_k:g} % of the picture the system relied on most "
            "is shown; the rest is black.",
        }
    if presentation.sign == "signed":
        labels = ["spoke against the answer", "no effect", "spoke for the answer"]
    else:
        labels = ["less important", "more important"]
    return {
        "kind": "bar",
        "cmap": presentation.cmap,
        "labels": labels,
        "scale": list(legend_labels(presentation)),
    }


def describe(entries: Sequence[tuple[str, Presentation]]) -> str:
    return "; ".join(f"{name}: {p.describe()}" for name, p in entries)
