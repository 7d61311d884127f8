"""A small declarative schema for configuration documents, their validation and their forms.

Protocols and the participant flow declare their options as :class:`Option` tuples. The same
declaration validates a JSON document (with messages naming the option and what is wrong), fills
in defaults, and builds the researcher's form fields.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from django import forms

Kind = Literal["int", "float", "str", "text", "bool", "choice", "strings", "json"]


class ConfigError(ValueError):
    """Invalid configuration: ``errors`` maps an option's path to its messages."""

    def __init__(self, errors: Mapping[str, Sequence[str]]) -> None:
        self.errors = {key: list(messages) for key, messages in errors.items()}
        super().__init__(
            "; ".join(f"{key}: {' '.join(messages)}" for key, messages in self.errors.items())
        )

    def prefixed(self, prefix: str) -> ConfigError:
        return ConfigError({f"{prefix}.{key}": value for key, value in self.errors.items()})


@dataclass(frozen=True)
class Option:
    """One configuration option.

    ``kind`` "strings" is a list of non-empty strings; "json" is any JSON value checked by the
    owner's own validation. ``nullable`` allows ``null`` (shown as an empty form field).
    """

    name: str
    kind: Kind
    default: Any
    label: str
    help: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    max_length: int = 5000

    def check(self, value: Any) -> tuple[Any, str | None]:
        """The value in canonical form, or an error message."""
        if value is None:
            return (None, None) if self.nullable else (None, "is required")
        if self.kind in ("int", "float"):
            return self._number(value)
        if self.kind in ("str", "text", "choice"):
            if not isinstance(value, str):
                return None, f"must be text, not {type(value).__name__}"
            value = value.strip() if self.kind != "text" else value
            if len(value) > self.max_length:
                return None, f"is longer than {self.max_length} characters"
            if self.kind == "choice" and value not in self.choices:
                return None, f"must be one of {', '.join(self.choices)} (got {value!r})"
            return value, None
        if self.kind == "bool":
            if not isinstance(value, bool):
                return None, "must be true or false"
            return value, None
        if self.kind == "strings":
            if not isinstance(value, list) or not all(
                isinstance(v, str) and v.strip() for v in value
            ):
                return None, "must be a list of non-empty texts"
            return [v.strip() for v in value], None
        return copy.deepcopy(value), None

    def _number(self, value: Any) -> tuple[Any, str | None]:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, "must be a number"
        if self.kind == "int":
            if isinstance(value, float) and not value.is_integer():
                return None, "must be a whole number"
            value = int(value)
        if self.minimum is not None and value < self.minimum:
            return None, f"must be at least {_fmt(self.minimum)}"
        if self.maximum is not None and value > self.maximum:
            return None, f"must be at most {_fmt(self.maximum)}"
        return value, None

    def form_field(self, initial: Any) -> forms.Field:
        common: dict[str, Any] = {
            "label": self.label,
            "help_text": self.help,
            "required": not self.nullable and self.kind not in ("bool", "text", "str", "strings"),
            "initial": initial,
        }
        if self.kind == "int":
            return forms.IntegerField(
                min_value=_int_or_none(self.minimum), max_value=_int_or_none(self.maximum), **common
            )
        if self.kind == "float":
            return forms.FloatField(min_value=self.minimum, max_value=self.maximum, **common)
        if self.kind == "bool":
            return forms.BooleanField(**common)
        if self.kind == "choice":
            return forms.ChoiceField(choices=[(c, c) for c in self.choices], **common)
        if self.kind == "str":
            return forms.CharField(max_length=self.max_length, **common)
        if self.kind == "strings":
            common["initial"] = "\n".join(initial or [])
            common["help_text"] = (self.help + " One per line.").strip()
            return forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), **common)
        if self.kind == "json":
            common["initial"] = json.dumps(initial, indent=2)
            common["help_text"] = (self.help + " (JSON)").strip()
            return forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), **common)
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), **common)

    def from_form(self, value: Any) -> Any:
        """A cleaned form value back to the document's form (validated by :func:`validate`)."""
        if self.kind == "strings":
            return [line.strip() for line in str(value or "").splitlines() if line.strip()]
        if self.kind == "json":
            try:
                return json.loads(value or "null")
            except json.JSONDecodeError as error:
                raise ConfigError({self.name: [f"is not valid JSON ({error.msg})"]}) from None
        if value in (None, "") and self.nullable:
            return None
        if self.kind in ("str", "text") and value is None:
            return ""
        return value


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _int_or_none(value: float | None) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class Schema:
    options: tuple[Option, ...]
    extra_keys: frozenset[str] = field(default_factory=frozenset)

    def validate(self, data: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """Defaults filled in, canonical values, and the errors per option (empty when valid)."""
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            return {}, {"": ["must be a JSON object"]}
        errors: dict[str, list[str]] = {}
        known = {o.name for o in self.options} | set(self.extra_keys)
        for key in data:
            if key not in known:
                errors.setdefault(str(key), []).append(
                    f"unknown option (known: {', '.join(sorted(known))})"
                )
        clean: dict[str, Any] = {}
        for option in self.options:
            value = data.get(option.name, copy.deepcopy(option.default))
            canonical, message = option.check(value)
            if message:
                errors.setdefault(option.name, []).append(message)
            else:
                clean[option.name] = canonical
        return clean, errors

    def form_fields(self, initial: Mapping[str, Any], prefix: str) -> dict[str, forms.Field]:
        return {
            f"{prefix}{o.name}": o.form_field(initial.get(o.name, o.default)) for o in self.options
        }

    def from_form(self, cleaned: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        for o in self.options:
            try:
                out[o.name] = o.from_form(cleaned.get(f"{prefix}{o.name}"))
            except ConfigError as error:
                errors.update(error.errors)
        if errors:
            raise ConfigError(errors)
        return out
