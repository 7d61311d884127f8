"""Question lists (demographics, questionnaire): validation of their definition and of answers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django import forms

from studies.configschema import ConfigError

TYPES = ("text", "number", "choice", "likert")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

DEMOGRAPHICS: list[dict[str, Any]] = [
    {"name": "age", "text": "Your age in years", "type": "number", "min": 18, "max": 120},
    {
        "name": "gender",
        "text": "Gender",
        "type": "choice",
        "options": ["Woman", "Man", "Non-binary", "Another gender", "Prefer not to say"],
    },
    {
        "name": "colour_vision",
        "text": "Do you have a colour vision deficiency (colour blindness)?",
        "type": "choice",
        "options": ["No", "Yes", "Not sure"],
    },
    {
        "name": "ml_familiarity",
        "text": "How familiar are you with machine learning?",
        "type": "choice",
        "options": ["Not at all", "A little", "Somewhat", "Very"],
    },
]


def validate_questions(data: Any) -> list[dict[str, Any]]:
    """A question list in canonical form; :class:`ConfigError` keyed by question number."""
    if not isinstance(data, list):
        raise ConfigError({"": ["must be a list of questions"]})
    errors: dict[str, list[str]] = {}
    out: list[dict[str, Any]] = []
    names: set[str] = set()
    for k, q in enumerate(data, start=1):
        where = f"question {k}"
        if not isinstance(q, Mapping):
            errors[where] = ["must be an object with name, text and type"]
            continue
        problems: list[str] = []
        name, text, kind = q.get("name"), q.get("text"), q.get("type", "text")
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append("name must be lower-case letters, digits or _ (e.g. 'difficulty')")
        elif name in names:
            problems.append(f"name {name!r} is used twice")
        if not isinstance(text, str) or not text.strip():
            problems.append("text is required")
        if kind not in TYPES:
            problems.append(f"type must be one of {', '.join(TYPES)}")
        options = q.get("options", [])
        if kind == "choice" and (
            not isinstance(options, list)
            or len(options) < 2
            or not all(isinstance(o, str) and o.strip() for o in options)
        ):
            problems.append("a choice question needs at least two options")
        points = q.get("points", 5)
        if kind == "likert" and (not isinstance(points, int) or not 2 <= points <= 11):
            problems.append("points must be a whole number from 2 to 11")
        unknown = set(q) - {"name", "text", "type", "options", "points", "required", "min", "max"}
        if unknown:
            problems.append(f"unknown field(s): {', '.join(sorted(unknown))}")
        if problems:
            errors[where] = problems
            continue
        names.add(str(name))
        clean: dict[str, Any] = {
            "name": name,
            "text": str(text).strip(),
            "type": kind,
            "required": bool(q.get("required", False)),
        }
        if kind == "choice":
            clean["options"] = [str(o).strip() for o in options]
        if kind == "likert":
            clean["points"] = points
        if kind == "number":
            clean["min"], clean["max"] = q.get("min"), q.get("max")
        out.append(clean)
    if errors:
        raise ConfigError(errors)
    return out


def answers_form(
    questions: list[dict[str, Any]], data: Mapping[str, Any] | None = None
) -> forms.Form:
    """A Django form for the questions (used by the page and, with JSON data, by the API)."""
    fields: dict[str, forms.Field] = {}
    for q in questions:
        common: dict[str, Any] = {"label": q["text"], "required": q.get("required", False)}
        if q["type"] == "number":
            fields[q["name"]] = forms.IntegerField(
                min_value=q.get("min"), max_value=q.get("max"), **common
            )
        elif q["type"] == "choice":
            fields[q["name"]] = forms.ChoiceField(
                choices=[("", "—")] + [(o, o) for o in q["options"]], **common
            )
        elif q["type"] == "likert":
            fields[q["name"]] = forms.TypedChoiceField(
                choices=[(str(k), str(k)) for k in range(1, q["points"] + 1)],
                coerce=int,
                empty_value=None,
                widget=forms.RadioSelect,
                **common,
            )
        else:
            fields[q["name"]] = forms.CharField(
                max_length=2000, widget=forms.Textarea(attrs={"rows": 3}), **common
            )
    form_class = type("AnswersForm", (forms.Form,), fields)
    return form_class(data=data) if data is not None else form_class()


def clean_answers(questions: list[dict[str, Any]], data: Mapping[str, Any]) -> dict[str, Any]:
    """Validated answers; :class:`ConfigError` with a message per question otherwise."""
    unknown = set(data) - {q["name"] for q in questions} - {"csrfmiddlewaretoken", "page"}
    if unknown:
        raise ConfigError({name: ["is not a question of this page"] for name in sorted(unknown)})
    form = answers_form(questions, {k: "" if v is None else v for k, v in data.items()})
    if not form.is_valid():
        raise ConfigError({k: [str(m) for m in v] for k, v in form.errors.items()})
    return {k: (None if v in ("", None) else v) for k, v in form.cleaned_data.items()}
