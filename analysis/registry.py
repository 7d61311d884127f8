"""The analysis side of a protocol, declared with it, and the registry that finds it.

A protocol's analysis lives in one module, ``analysis/protocols/<id>.py``, that defines
``PROTOCOL = AnalysisProtocol(...)``: the columns of its tidy table and their kinds, which of
them are the response, its pipeline, the analyses the pipeline produces, the ones a researcher
reads first, its title and the power design that plans it. Everything outside that module (the
table checks, :func:`analysis.analyze`, the report, the command line, the study platform's
results page, power planner and export) reads this registry, so adding a protocol touches no
other file. A protocol defined elsewhere (a lab's own package, a test) calls :func:`register`.

This module imports no protocol at import time: the built-in modules are imported on first use.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

    from analysis.protocols._common import Options, ProtocolOutput
    from analysis.table import PreparedTable

__all__ = [
    "COMMON_ANALYSES",
    "AnalysisProtocol",
    "Column",
    "ColumnKind",
    "get_analysis_protocol",
    "protocol_ids",
    "register",
    "unregister",
]

#: ``label``: non-empty text; ``integer``: whole scale points; ``binary``: 0/1 (also
#: true/false, yes/no); ``any``: kept as it is (the protocol's ``check`` looks at it).
ColumnKind = Literal["label", "integer", "binary", "any"]

#: Analyses every protocol's results hold, added outside its pipeline (or by shared helpers):
#: the sample summary, faithfulness vs human judgement when metrics are given, and the
#: between-subjects factors of :mod:`analysis.protocols.factors` (``factor:<name>``…).
COMMON_ANALYSES: tuple[str, ...] = ("sample", "human_vs_metric")


@dataclass(frozen=True)
class Column:
    """One column of a protocol's tidy table."""

    name: str
    kind: ColumnKind
    required: bool = True
    #: a row whose response column is missing (NA) is a trial without an answer: left out
    response: bool = False
    description: str = ""
    #: a binary column that may be missing on some rows (the analyses using it drop them)
    may_be_missing: bool = False


@dataclass(frozen=True)
class AnalysisProtocol:
    """Everything the analysis needs to know about one protocol.

    Attributes:
        id: the protocol's name, the same as on the study side (``studies.protocols``).
        title: how reports and pages name it.
        columns: its columns beyond ``participant_id``, ``item_id`` and ``trial_index``.
        run: the pipeline, ``run(prepared_table, options) -> ProtocolOutput``.
        analyses: every ``analysis`` name the pipeline may produce (a test checks it against
            what it does produce), beyond :data:`COMMON_ANALYSES`.
        key_analyses: the ones a researcher reads first (the results page shows them on top).
        power_design: the :mod:`analysis.power` design the planner offers first.
        participant_outcome: each participant's outcome and its description, for the
            between-subjects factor tests (:mod:`analysis.protocols.factors`); None: none.
        one_of: groups of columns of which at least one must be present.
        row_key: what identifies a row (default: a participant's trial).
        row_unit: what one row is, for messages.
        check: further checks and conversions once the columns have their kinds (raise
            :class:`analysis.table.TableError` naming the column).
        plot_titles: captions of the plots the pipeline draws, by plot name.
        analysis_plan: the analyses run for a study configuration, one sentence each with the
            model formulas (the preregistration's analysis plan).
    """

    id: str
    title: str
    columns: tuple[Column, ...]
    run: Callable[[PreparedTable, Options], ProtocolOutput]
    analyses: tuple[str, ...]
    key_analyses: tuple[str, ...]
    power_design: str
    participant_outcome: Callable[[pd.DataFrame, Options], tuple[pd.Series, str]] | None = None
    one_of: tuple[tuple[str, ...], ...] = ()
    row_key: tuple[str, ...] = ("participant_id", "trial_index")
    row_unit: str = "trial"
    check: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    plot_titles: dict[str, str] = field(default_factory=dict)
    analysis_plan: Callable[[Mapping[str, Any]], list[str]] | None = None

    def __post_init__(self) -> None:
        unknown = [a for a in self.key_analyses if a not in self.analyses]
        if unknown:
            raise ValueError(
                f"protocol {self.id!r}: key analyses {unknown} are not among its analyses"
            )

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def response_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.response)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


_REGISTRY: dict[str, AnalysisProtocol] = {}
_DISCOVERED = False
_NOT_PROTOCOLS = frozenset({"factors", "shared"})


def register(protocol: AnalysisProtocol) -> AnalysisProtocol:
    """Make ``protocol`` available under its id; a second protocol with the same id is an error."""
    current = _REGISTRY.get(protocol.id)
    if current is not None and current is not protocol:
        raise RuntimeError(f"two analysis protocols are named {protocol.id!r}")
    _REGISTRY[protocol.id] = protocol
    return protocol


def unregister(protocol_id: str) -> None:
    """Remove a protocol registered with :func:`register` (tests that add a toy one)."""
    _REGISTRY.pop(protocol_id, None)


def _discover() -> None:
    """Import each built-in protocol module once; each defines ``PROTOCOL``."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    import analysis.protocols as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or info.name in _NOT_PROTOCOLS:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        declared = getattr(module, "PROTOCOL", None)
        if not isinstance(declared, AnalysisProtocol):
            raise RuntimeError(f"{module.__name__} defines no PROTOCOL = AnalysisProtocol(...)")
        register(declared)
    _DISCOVERED = True


def analysis_protocols() -> dict[str, AnalysisProtocol]:
    """Every registered protocol by id, in id order."""
    _discover()
    return dict(sorted(_REGISTRY.items()))


def protocol_ids() -> tuple[str, ...]:
    return tuple(analysis_protocols())


def get_analysis_protocol(protocol_id: str) -> AnalysisProtocol:
    """The protocol ``protocol_id``; :class:`analysis.table.TableError` naming the known ones."""
    known = analysis_protocols()
    if protocol_id not in known:
        from analysis.table import TableError

        raise TableError(f"unknown protocol {protocol_id!r}; choose one of {', '.join(known)}")
    return known[protocol_id]
