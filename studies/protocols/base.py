"""The protocol plug-in interface, shared value types and the registry.

A protocol is one module in this package defining a :class:`Protocol` subclass decorated with
:func:`register`, plus one template ``participant/protocols/<name>.html`` that renders a trial's
``shown`` payload. The engine (services, views, export, bots) only talks to this interface:

- ``schema`` and :meth:`Protocol.validate_config`: the options, defaults and clear messages;
- :meth:`Protocol.targets_for` and :meth:`Protocol.check_stimuli`: what must be precomputed and
  whether the study's images can supply the design;
- :meth:`Protocol.conditions`: the between-subject cells (factor levels or counterbalancing rows);
- :meth:`Protocol.plan`, :meth:`Protocol.practice`, :meth:`Protocol.attention_check`: a
  participant's trials from the frozen stimuli, the condition and a seeded RNG. Each trial has a
  ``shown`` payload (the only thing the browser ever receives, images as opaque tokens from
  :meth:`PlanContext.asset`) and a ``hidden`` one (methods, positions, expected answers);
- :meth:`Protocol.validate_response` and :meth:`Protocol.score`: the answer, cleaned, and the
  derived values;
- :meth:`Protocol.export_columns` and :meth:`Protocol.export_rows`: its columns of the tidy table;
- :meth:`Protocol.simulate_response`: how a bot answers (used by ``simulate_participants``).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import pkgutil
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from studies.configschema import ConfigError, Schema


class ResponseError(ValueError):
    """An answer the protocol cannot accept; the message tells the participant what to fix."""


@dataclass(frozen=True)
class MapRef:
    id: int
    overlay: str
    heatmap: str


def _map_ref(ref: Mapping[str, Any], presentation: str | None) -> MapRef:
    files = (ref.get("presentations") or {}).get(presentation) if presentation else None
    files = files or ref
    return MapRef(id=ref["id"], overlay=files["overlay"], heatmap=files["heatmap"])


@dataclass(frozen=True)
class StimulusItem:
    """A frozen stimulus as protocols see it (see ``Stimulus.data``)."""

    pk: int
    item_id: str
    image: str
    label: str | None
    label_index: int | None
    predicted: int | None
    predicted_label: str | None
    correct: bool | None
    top_classes: tuple[int, ...]
    top_labels: tuple[str, ...]
    top_probabilities: tuple[float, ...]
    maps: Mapping[str, Mapping[str, MapRef]]

    def map(self, method: str, target: str = "predicted") -> MapRef:
        return self.maps[method][target]

    @classmethod
    def from_data(
        cls, pk: int, item_id: str, data: Mapping[str, Any], presentation: str | None = None
    ) -> StimulusItem:
        """The item as frozen; its maps' files are those of ``presentation`` (a level of the
        study's presentation factor) where given, else of the study's first presentation."""
        return cls(
            pk=pk,
            item_id=item_id,
            image=data["image"],
            label=data.get("label"),
            label_index=data.get("label_index"),
            predicted=data.get("predicted"),
            predicted_label=data.get("predicted_label"),
            correct=data.get("correct"),
            top_classes=tuple(data.get("top_classes", ())),
            top_labels=tuple(data.get("top_labels", ())),
            top_probabilities=tuple(data.get("top_probabilities", ())),
            maps={
                method: {target: _map_ref(ref, presentation) for target, ref in targets.items()}
                for method, targets in data.get("maps", {}).items()
            },
        )


@dataclass(frozen=True)
class ConditionSpec:
    """A between-subject cell. ``factors`` become columns of the export."""

    name: str
    factors: Mapping[str, Any]


@dataclass
class PlannedTrial:
    kind: str  # "practice", "main" or "attention"
    shown: dict[str, Any]
    hidden: dict[str, Any]
    stimulus: StimulusItem | None = None


@dataclass
class PlanContext:
    """Everything a protocol may use to plan one participant's trials."""

    config: Mapping[str, Any]
    methods: Sequence[str]
    stimuli: Sequence[StimulusItem]
    condition: ConditionSpec
    rng: random.Random
    participant_code: str
    max_trials: int | None = None
    assets: dict[str, str] = field(default_factory=dict)
    # The protocol's own planning state for this participant, shared by practice, plan and
    # attention checks (e.g. which images the participant has already been shown).
    state: dict[str, Any] = field(default_factory=dict)

    def asset(self, storage_name: str) -> str:
        """An opaque token for a stored file: nothing about it can be read from the token."""
        from django.conf import settings

        key = hashlib.sha256(b"studies.asset:" + settings.SECRET_KEY.encode()).digest()
        message = f"{self.participant_code}:{storage_name}".encode()
        token = hmac.new(key, message, hashlib.sha256).hexdigest()[:24]
        self.assets[token] = storage_name
        return token


@dataclass(frozen=True)
class PracticeFeedback:
    """Feedback on a stored practice answer: right or not (``None``: no right answer on record
    for the item), said once in ``title`` ("Correct", "Not quite"), and what the right answer
    was in ``detail`` (a sentence of its own; may be empty). The feedback page shows the title
    as its heading and the detail below it; :attr:`message` is both in one line, for a front end
    that shows a single line."""

    correct: bool | None
    title: str
    detail: str = ""

    @property
    def message(self) -> str:
        return f"{self.title}. {self.detail}" if self.detail else f"{self.title}."

    @classmethod
    def right(cls) -> PracticeFeedback:
        return cls(True, "Correct")

    @classmethod
    def wrong(cls, answer: str) -> PracticeFeedback:
        """``answer``: the sentence that gives the right answer, e.g. "The photo shows a
        zebra."; the verdict "Not quite" is the title, not repeated in it."""
        return cls(False, "Not quite", answer)


@dataclass(frozen=True)
class Column:
    """A column of the tidy export, described in the codebook (Frictionless field)."""

    name: str
    type: str  # Frictionless type: string, integer, number, boolean, datetime
    description: str
    constraints: Mapping[str, Any] = field(default_factory=dict)


class Protocol:
    """Base class of every protocol; subclasses override what differs."""

    name: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str] = ""
    schema: ClassVar[Schema]
    default_images: ClassVar[str] = "all"
    minimum_methods: ClassVar[int] = 1
    # Whether "the same answer to every trial" means something for this protocol: a protocol
    # that sets it True defines :meth:`straightlining_value`; the study's validation refuses the
    # straight-lining exclusion rule for the others.
    defines_straightlining: ClassVar[bool] = False
    # Whether a practice answer has a right answer the participant can be told about: a protocol
    # that sets it True defines :meth:`practice_feedback`; the study's validation refuses the
    # flow's ``practice_feedback`` option for the others.
    supports_practice_feedback: ClassVar[bool] = False

    @property
    def analyses(self) -> tuple[str, ...]:
        """Its analyses, as its analysis side declares them (``analysis/protocols/<name>.py``)."""
        from analysis.registry import analysis_protocols

        declared = analysis_protocols().get(self.name)
        return declared.analyses if declared is not None else ()

    @property
    def template(self) -> str:
        return f"participant/protocols/{self.name}.html"

    # --- configuration ------------------------------------------------------------------------
    def validate_config(self, config: Any, *, methods: Sequence[str]) -> dict[str, Any]:
        """Defaults filled in and values checked; raises :class:`ConfigError` naming each option."""
        clean, errors = self.schema.validate(config)
        if not errors:
            errors.update(self.cross_check(clean, methods=methods))
        if len(methods) < self.minimum_methods:
            errors.setdefault("methods", []).append(
                f"the {self.name} protocol needs at least {self.minimum_methods} method(s)"
            )
        if errors:
            raise ConfigError(errors)
        return clean

    def cross_check(
        self, config: Mapping[str, Any], *, methods: Sequence[str]
    ) -> dict[str, list[str]]:
        """Checks between options (after each option is valid on its own)."""
        return {}

    def instructions(self, config: Mapping[str, Any]) -> str:
        """The protocol's own instructions, shown before the researcher's."""
        return ""

    # --- stimuli and design -------------------------------------------------------------------
    def targets_for(self, config: Mapping[str, Any], *, correct: bool | None) -> tuple[str, ...]:
        """Which maps an image needs: "predicted" and/or "truth" class."""
        return ("predicted",)

    def prepare_stimulus(self, config: Mapping[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """Called once per image when the stimuli are frozen: a protocol may add derived files
        (stored under opaque names, e.g. a degraded copy of the image) or facts to ``data``."""
        return data

    def check_stimuli(
        self, config: Mapping[str, Any], stimuli: Sequence[StimulusItem], *, methods: Sequence[str]
    ) -> list[str]:
        """Problems that make the design impossible with these stimuli (empty when fine)."""
        return [] if stimuli else ["no images match the selection"]

    def conditions(
        self, config: Mapping[str, Any], *, methods: Sequence[str]
    ) -> list[ConditionSpec]:
        return [ConditionSpec("all", {})]

    def plan(self, ctx: PlanContext) -> list[PlannedTrial]:
        raise NotImplementedError

    def practice(self, ctx: PlanContext, n: int) -> list[PlannedTrial]:
        """``n`` practice trials: by default main trials of random stimuli, marked as practice."""
        if n <= 0:
            return []
        trials = self.plan(ctx)
        ctx.rng.shuffle(trials)
        out = []
        for trial in trials[:n]:
            trial.kind = "practice"
            trial.shown["practice"] = True
            out.append(trial)
        return out

    def attention_check(self, ctx: PlanContext) -> PlannedTrial:
        """An instructed-response item; ``hidden["expected"]`` is the required answer."""
        raise NotImplementedError

    # --- responses ----------------------------------------------------------------------------
    def validate_response(
        self, config: Mapping[str, Any], *, shown: Mapping[str, Any], value: Any
    ) -> dict[str, Any]:
        """The answer cleaned, or :class:`ResponseError` with a message for the participant."""
        raise NotImplementedError

    def score(
        self, config: Mapping[str, Any], *, hidden: Mapping[str, Any], value: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Derived values stored with the response (and used by the export)."""
        return {}

    def practice_feedback(
        self, config: Mapping[str, Any], *, hidden: Mapping[str, Any], scored: Mapping[str, Any]
    ) -> PracticeFeedback:
        """What the participant is told after a stored practice answer (set
        :attr:`supports_practice_feedback` when overriding it). Called only after the answer is
        stored: it may reveal the practice item's right answer."""
        raise NotImplementedError

    def attention_passed(self, *, hidden: Mapping[str, Any], value: Mapping[str, Any]) -> bool:
        expected = hidden.get("expected", {})
        return all(value.get(key) == want for key, want in expected.items())

    # --- export -------------------------------------------------------------------------------
    def export_columns(self, config: Mapping[str, Any]) -> list[Column]:
        raise NotImplementedError

    def export_rows(
        self,
        config: Mapping[str, Any],
        *,
        hidden: Mapping[str, Any],
        value: Mapping[str, Any],
        scored: Mapping[str, Any],
    ) -> list[dict[str, Any]]:
        """The protocol's columns for one answered main trial (one or more rows)."""
        raise NotImplementedError

    def straightlining_value(self, scored: Mapping[str, Any]) -> Any:
        """The value compared across trials by the straight-lining exclusion rule (set
        :attr:`defines_straightlining` when overriding it)."""
        return None

    # --- bots ---------------------------------------------------------------------------------
    def simulate_response(
        self,
        config: Mapping[str, Any],
        *,
        shown: Mapping[str, Any],
        hidden: Mapping[str, Any],
        rng: random.Random,
        effects: Mapping[str, float],
    ) -> dict[str, Any]:
        """A bot's answer. Bots may read ``hidden`` (an oracle) to simulate method effects."""
        raise NotImplementedError


_REGISTRY: dict[str, Protocol] = {}
_DISCOVERED = False


def register(cls: type[Protocol]) -> type[Protocol]:
    """Class decorator: make a protocol available under ``cls.name``."""
    if cls.name in _REGISTRY and type(_REGISTRY[cls.name]) is not cls:
        raise RuntimeError(f"two protocols are named {cls.name!r}")
    _REGISTRY[cls.name] = cls()
    return cls


def _discover() -> None:
    """Import every module of this package once: each registers its protocol."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    import studies.protocols as package

    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_") and module.name not in ("base", "design"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    _DISCOVERED = True


def protocols() -> dict[str, Protocol]:
    _discover()
    return dict(sorted(_REGISTRY.items()))


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; :class:`ConfigError` naming the known ones otherwise."""
    known = protocols()
    if name not in known:
        raise ConfigError({"protocol": [f"unknown protocol {name!r} (known: {', '.join(known)})"]})
    return known[name]
