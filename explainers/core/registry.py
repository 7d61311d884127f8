"""Registries of saliency methods and faithfulness metrics, with declarative, validated options.

Every method and metric declares its options once (:class:`Option`: default, accepted types,
allowed values or range, whether it changes the result). :func:`explain` and
:func:`faithfulness` reject unknown options and bad values before any computation, and
:func:`resolve_parameters` returns the exact parameters of a call (defaults filled in), which the
platform stores and hashes with every map and score. Options marked ``affects_result=False``
(``batch_size``) change speed and memory only, so they are left out of the resolved parameters.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from explainers.core.errors import ExplainerInputError

if TYPE_CHECKING:
    from explainers.core.methods.base import Explainer
    from explainers.core.metrics.base import Metric

Family = Literal["backprop", "cam", "perturbation", "attention"]
Resolution = Literal["input", "feature"]
ScoreKind = Literal["logit", "probability"]
FAMILIES: tuple[str, ...] = ("backprop", "cam", "perturbation", "attention")
RESOLUTIONS: tuple[str, ...] = ("input", "feature")
SCORES: tuple[str, ...] = ("logit", "probability")
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class Option:
    """One option of a method or metric: its default and what values it accepts.

    ``types`` lists the accepted Python types (``float`` also accepts ``int``; ``bool`` is never
    taken for an ``int``). ``choices`` restricts to a set of values; ``minimum``/``maximum`` bound
    numbers (inclusive). ``affects_result=False`` marks options that change speed or memory only.
    """

    default: Any
    types: tuple[type, ...]
    help: str
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    affects_result: bool = True

    def validate(self, name: str, value: Any) -> Any:
        """The value, normalised (an ``int`` given for a ``float`` becomes a float), or raise."""
        if value is None:
            if type(None) in self.types:
                return None
            raise ExplainerInputError(name, "must not be None")
        if isinstance(value, bool):
            if bool not in self.types:
                raise ExplainerInputError(name, f"expected {self._type_names()}, got a bool")
        elif isinstance(value, int) and int not in self.types:
            if float not in self.types:
                raise ExplainerInputError(name, f"expected {self._type_names()}, got {value!r}")
            value = float(value)
        elif not isinstance(value, self.types) or (
            isinstance(value, float) and float not in self.types
        ):
            raise ExplainerInputError(
                name, f"expected {self._type_names()}, got {type(value).__name__} {value!r}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ExplainerInputError(name, f"must be finite, got {value!r}")
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(repr(c) for c in self.choices)
            raise ExplainerInputError(name, f"must be one of {allowed}, got {value!r}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                raise ExplainerInputError(name, f"must be ≥ {self.minimum}, got {value!r}")
            if self.maximum is not None and value > self.maximum:
                raise ExplainerInputError(name, f"must be ≤ {self.maximum}, got {value!r}")
        return value

    def _type_names(self) -> str:
        return " or ".join("None" if t is type(None) else t.__name__ for t in self.types)


def batch_size_option(default: int = 8) -> Option:
    """The model inputs per forward (or forward + backward) pass: bounds memory, not results."""
    return Option(
        default,
        (int,),
        "model inputs per forward pass (bounds memory; does not change the result)",
        minimum=1,
        affects_result=False,
    )


def score_option(default: ScoreKind) -> Option:
    """Which class score ``y_c`` is explained or measured: the logit or the softmax probability."""
    return Option(default, (str,), "class score y_c: 'logit' or 'probability'", choices=SCORES)


def autocast_option() -> Option:
    """Mixed precision (float16 autocast) for forward-only passes; has effect on CUDA only."""
    return Option(
        True, (bool,), "float16 autocast of forward-only passes on CUDA (no effect on CPU)"
    )


@dataclass(frozen=True)
class _Spec:
    name: str
    description: str
    citation: str
    options: Mapping[str, Option]

    @property
    def defaults(self) -> dict[str, Any]:
        """Every option with its default value."""
        return {key: option.default for key, option in self.options.items()}

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """All options, validated, with defaults filled in (raises on unknown names or values)."""
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            known = ", ".join(self.options) or "none"
            raise ExplainerInputError(
                unknown[0], f"unknown option for {self.name!r} (its options: {known})"
            )
        return {
            key: option.validate(key, given.get(key, option.default))
            for key, option in self.options.items()
        }


@dataclass(frozen=True)
class MethodSpec(_Spec):
    """A registered saliency method: what it is, where it comes from and how it is computed."""

    family: Family = "backprop"
    resolution: Resolution = "input"
    score: ScoreKind = "logit"
    stochastic: bool = False
    implementation: type[Explainer] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class MetricSpec(_Spec):
    """A registered faithfulness metric."""

    kind: Literal["multi_step", "single_step"] = "multi_step"
    higher_is_better: bool = True
    implementation: type[Metric] | None = field(default=None, repr=False)

    @property
    def title(self) -> str:
        """The metric as a caption names it: its description up to the first colon
        (``"Deletion AUC: area under …"`` → ``"Deletion AUC"``)."""
        return self.description.split(":", 1)[0].strip()


_methods: dict[str, MethodSpec] = {}
_metrics: dict[str, MetricSpec] = {}


class _LazyRegistry(Mapping[str, Any]):
    """A read-only view that imports the built-in methods/metrics on first use."""

    def __init__(self, store: dict[str, Any], package: str) -> None:
        self._store = store
        self._package = package
        self._view = MappingProxyType(store)

    def _loaded(self) -> Mapping[str, Any]:
        if not self._store:
            __import__(self._package)
        return self._view

    def __getitem__(self, key: str) -> Any:
        return self._loaded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self._loaded())})"


#: name → :class:`MethodSpec` of every registered saliency method.
METHODS: Mapping[str, MethodSpec] = _LazyRegistry(_methods, "explainers.core.methods")
#: name → :class:`MetricSpec` of every registered faithfulness metric.
METRICS: Mapping[str, MetricSpec] = _LazyRegistry(_metrics, "explainers.core.metrics")

E = TypeVar("E", bound="type[Explainer]")
M = TypeVar("M", bound="type[Metric]")


def _check_name(name: Any, store: Mapping[str, Any], kind: str) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"{kind} name must be an identifier, got {name!r}")
    if name in store:
        raise ValueError(f"{kind} {name!r} is already registered")


def register_method(cls: E) -> E:
    """Class decorator: add an :class:`~explainers.core.methods.base.Explainer` to METHODS."""
    _check_name(getattr(cls, "name", None), _methods, "method")
    if cls.family not in FAMILIES or cls.resolution not in RESOLUTIONS or cls.score not in SCORES:
        raise ValueError(f"method {cls.name!r}: bad family, resolution or score")
    if not cls.description or not cls.citation:
        raise ValueError(f"method {cls.name!r}: a description and a citation are required")
    _methods[cls.name] = MethodSpec(
        name=cls.name,
        description=cls.description,
        citation=cls.citation,
        options=MappingProxyType(dict(cls.options)),
        family=cls.family,
        resolution=cls.resolution,
        score=cls.score,
        stochastic=cls.stochastic,
        implementation=cls,
    )
    return cls


def register_metric(cls: M) -> M:
    """Class decorator: add a :class:`~explainers.core.metrics.base.Metric` to METRICS."""
    _check_name(getattr(cls, "name", None), _metrics, "metric")
    if not cls.description or not cls.citation:
        raise ValueError(f"metric {cls.name!r}: a description and a citation are required")
    if ":" not in cls.description:
        raise ValueError(
            f"metric {cls.name!r}: the description starts with its title and a colon "
            "('Deletion AUC: …'); captions read the title from it"
        )
    _metrics[cls.name] = MetricSpec(
        name=cls.name,
        description=cls.description,
        citation=cls.citation,
        options=MappingProxyType(dict(cls.options)),
        kind=cls.kind,
        higher_is_better=cls.higher_is_better,
        implementation=cls,
    )
    return cls


def method_spec(method: Any) -> MethodSpec:
    """The spec of ``method`` (raises ExplainerInputError naming ``method`` when unknown)."""
    if not isinstance(method, str) or method not in METHODS:
        raise ExplainerInputError(
            "method", f"unknown method {method!r} (known: {', '.join(METHODS)})"
        )
    return METHODS[method]


def metric_spec(metric: Any) -> MetricSpec:
    """The spec of ``metric`` (raises ExplainerInputError naming ``metric`` when unknown)."""
    if not isinstance(metric, str) or metric not in METRICS:
        raise ExplainerInputError(
            "metric", f"unknown metric {metric!r} (known: {', '.join(METRICS)})"
        )
    return METRICS[metric]


def check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ExplainerInputError("seed", f"must be an int in [0, {MAX_SEED}], got {seed!r}")
    return seed


def _result_parameters(spec: _Spec, options: Mapping[str, Any]) -> dict[str, Any]:
    resolved = spec.resolve(options)
    return {key: value for key, value in resolved.items() if spec.options[key].affects_result}


def resolve_parameters(method: str, seed: int = 0, **options: Any) -> dict[str, Any]:
    """The exact parameters of ``explain(…, method, seed=seed, **options)``: every option that
    changes the map (defaults filled in, values normalised) plus ``seed``.

    The result can be passed back to :func:`explainers.core.explain` as keyword arguments and is
    what the platform hashes to identify a map. ``batch_size`` is left out: it bounds memory and
    does not change the result.
    """
    parameters = _result_parameters(method_spec(method), options)
    parameters["seed"] = check_seed(seed)
    return parameters


def resolve_metric_parameters(metric: str, **options: Any) -> dict[str, Any]:
    """The exact parameters of ``faithfulness(…, metric, **options)`` (as for methods)."""
    return _result_parameters(metric_spec(metric), options)


def library_versions() -> dict[str, str]:
    """Versions of everything that can change a number: Python, torch, numpy, this engine."""
    import numpy
    import torch

    from explainers.core import __version__

    return {
        "explainers.core": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "cuda": str(torch.version.cuda),
    }


def provenance(name: str, seed: int = 0, **options: Any) -> dict[str, Any]:
    """What to store with a map or score: its method or metric, parameters and library versions."""
    if isinstance(name, str) and name in METRICS and name not in METHODS:
        kind, parameters = "metric", resolve_metric_parameters(name, **options)
    else:
        kind, parameters = "method", resolve_parameters(name, seed=seed, **options)
    return {"kind": kind, "name": name, "parameters": parameters, "versions": library_versions()}


def describe(spec: MethodSpec | MetricSpec) -> dict[str, Any]:
    """A plain-dict summary of a spec (for APIs and documentation)."""
    summary: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        "citation": spec.citation,
        "defaults": spec.defaults,
        "options": {key: option.help for key, option in spec.options.items()},
    }
    if isinstance(spec, MethodSpec):
        summary.update(
            family=spec.family,
            resolution=spec.resolution,
            score=spec.score,
            stochastic=spec.stochastic,
        )
    else:
        summary.update(kind=spec.kind, higher_is_better=spec.higher_is_better)
    return summary
