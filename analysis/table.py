"""The tidy input table: required columns per protocol, type checks, exclusions.

One row per participant × trial (a protocol may say otherwise: preference has one row per
participant × trial × pair of methods, since a k-way choice or a ranking of k maps is one row per
pairwise comparison it implies, all with the trial's ``trial_index``). Every protocol needs
``participant_id``, ``item_id`` and ``trial_index``; its own columns, their kinds (label,
integer scale points, 0/1) and which of them are the response are declared with the protocol
(``PROTOCOL.columns`` in ``analysis/protocols/<id>.py``, see :mod:`analysis.registry`), and
analysis/README.md lists them.

Optional everywhere: ``excluded`` (0/1; rows with 1 are dropped and counted; missing means 0),
``exclusion_reason`` (counted per reason), ``rt_ms``, and any condition columns (kept as they are).

Problems that make the table unusable raise :class:`TableError` (a ``ValueError``) with a message
naming the column and what is wrong. Rows whose response is missing (``NA``) are dropped and
counted in a note, as a participant who timed out on a trial gave no response.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from analysis.registry import AnalysisProtocol

__all__ = [
    "BASE_COLUMNS",
    "OPTIONAL_COLUMNS",
    "PreparedTable",
    "TableError",
    "as_labels",
    "validate_table",
]

BASE_COLUMNS: tuple[str, ...] = ("participant_id", "item_id", "trial_index")
OPTIONAL_COLUMNS: tuple[str, ...] = ("excluded", "exclusion_reason", "rt_ms", "confidence")


def __getattr__(name: str) -> Any:
    """``PROTOCOLS`` and ``PROTOCOL_COLUMNS``, read from the registry when asked for."""
    from analysis.registry import analysis_protocols

    if name == "PROTOCOLS":
        return tuple(analysis_protocols())
    if name == "PROTOCOL_COLUMNS":
        return {p.id: p.required_columns for p in analysis_protocols().values()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class TableError(ValueError):
    """The table cannot be analysed as given; the message says which column and why."""


@dataclass
class PreparedTable:
    """A validated table, exclusions applied, with the bookkeeping the report needs."""

    protocol: str
    data: pd.DataFrame
    n_rows_input: int
    n_rows_excluded: int
    n_participants_input: int
    n_participants_excluded: int
    n_rows_missing_response: int
    exclusion_reasons: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def n_participants(self) -> int:
        return int(self.data["participant_id"].nunique())

    @property
    def n_items(self) -> int:
        return int(self.data["item_id"].nunique())


def _show(values: object, limit: int = 5) -> str:
    vals = [v.item() if isinstance(v, np.generic) else v for v in pd.unique(pd.Series(values))]
    text = ", ".join(repr(v) for v in vals[:limit])
    return text + (f", … ({len(vals)} distinct)" if len(vals) > limit else "")


def _binary(series: pd.Series, column: str, *, allow_missing: bool) -> pd.Series:
    """0/1 (also True/False, "true"/"false", "yes"/"no") → float 0/1 with NaN for missing."""
    mapping = {
        "1": 1.0,
        "0": 0.0,
        "true": 1.0,
        "false": 0.0,
        "yes": 1.0,
        "no": 0.0,
        "1.0": 1.0,
        "0.0": 0.0,
    }
    missing = series.isna()
    text = series[~missing].astype(str).str.strip().str.lower()
    out = pd.Series(np.nan, index=series.index, dtype=float)
    out[~missing] = text.map(mapping).astype(float)
    bad = ~missing & out.isna()
    if bad.any():
        raise TableError(
            f"column {column!r} must hold 0/1 values; found {_show(series[bad])} "
            f"in {int(bad.sum())} row(s)"
        )
    if missing.any() and not allow_missing:
        raise TableError(f"column {column!r} has {int(missing.sum())} missing value(s)")
    return out


def _integer(series: pd.Series, column: str) -> pd.Series:
    numeric = pd.to_numeric(series, errors="coerce")
    bad = series.notna() & numeric.isna()
    if bad.any():
        raise TableError(
            f"column {column!r} must hold integer scale points; found "
            f"{_show(series[bad])} in {int(bad.sum())} row(s)"
        )
    frac = numeric.notna() & (numeric != np.round(numeric))
    if frac.any():
        raise TableError(
            f"column {column!r} must hold integer scale points; found {_show(numeric[frac])}"
        )
    return numeric.astype(float)


def _labels(series: pd.Series, column: str) -> pd.Series:
    if series.isna().any():
        raise TableError(f"column {column!r} has {int(series.isna().sum())} missing value(s)")
    out = series.astype(str).str.strip()
    if (out == "").any():
        raise TableError(f"column {column!r} has {int((out == '').sum())} empty value(s)")
    return out


as_labels = _labels  # for a protocol's ``check``: non-empty text, or TableError naming the column


def _required(protocol: AnalysisProtocol, columns: pd.Index) -> list[str]:
    need = list(BASE_COLUMNS) + list(protocol.required_columns)
    missing = [c for c in need if c not in columns]
    for group in protocol.one_of:
        if not any(c in columns for c in group):
            missing.append(f"{group[0]} (or {' or '.join(group[1:])})")
    return missing


def validate_table(protocol: str, table: pd.DataFrame) -> PreparedTable:
    """Check a tidy table for ``protocol``, apply exclusions and return it prepared.

    Raises:
        TableError: unknown protocol, missing columns, wrong values, duplicate trials, or fewer
            than two participants left after exclusions.
    """
    from analysis.registry import get_analysis_protocol

    spec = get_analysis_protocol(protocol)
    if not isinstance(table, pd.DataFrame):
        raise TableError(f"expected a pandas DataFrame, got {type(table).__name__}")
    if table.empty:
        raise TableError("the table has no rows")
    missing = _required(spec, table.columns)
    if missing:
        raise TableError(
            f"the {protocol} table is missing required column(s): {', '.join(missing)} "
            f"(found: {', '.join(map(str, table.columns))})"
        )
    df = table.copy()
    df.columns = [str(c) for c in df.columns]
    for col in ("participant_id", "item_id"):
        df[col] = _labels(df[col], col)
    trial = pd.to_numeric(df["trial_index"], errors="coerce")
    if trial.isna().any():
        raise TableError(
            f"column 'trial_index' must be numeric; found "
            f"{_show(df.loc[trial.isna(), 'trial_index'])}"
        )
    df["trial_index"] = trial
    key = list(spec.row_key)
    dup = df.duplicated(key, keep=False)
    if dup.any():
        first = df.loc[dup, key].iloc[0]
        example = ", ".join(f"{col} {_plain(first[col])!r}" for col in key)
        raise TableError(
            f"{int(dup.sum())} rows share a ({', '.join(key)}): e.g. {example}; one row per "
            + spec.row_unit
        )
    n_rows_input = len(df)
    n_part_input = int(df["participant_id"].nunique())
    notes: list[str] = []

    reasons: dict[str, int] = {}
    n_excluded = 0
    n_part_excluded = 0
    if "excluded" in df.columns:
        flag = _binary(df["excluded"], "excluded", allow_missing=True).fillna(0.0) == 1.0
        n_excluded = int(flag.sum())
        if n_excluded:
            if "exclusion_reason" in df.columns:
                reason = df.loc[flag, "exclusion_reason"].fillna("unspecified").astype(str)
                reasons = {str(k): int(v) for k, v in reason.value_counts().sort_index().items()}
            kept = set(df.loc[~flag, "participant_id"])
            n_part_excluded = len(set(df["participant_id"]) - kept)
            df = df.loc[~flag]
            why = (
                (" (" + ", ".join(f"{k}: {v}" for k, v in reasons.items()) + ")") if reasons else ""
            )
            notes.append(
                f"{n_excluded} of {n_rows_input} rows excluded (excluded = 1){why}; "
                f"{n_part_excluded} participant(s) excluded entirely"
            )

    df = _protocol_columns(spec, df)
    response = list(spec.response_columns)
    no_response = df[response].isna().any(axis=1)
    n_missing = int(no_response.sum())
    if n_missing:
        absent = [col for col in response if df.loc[no_response, col].isna().any()]
        notes.append(
            f"{n_missing} row(s) without a response ({', '.join(absent)} missing) left out"
        )
        df = df.loc[~no_response]
    if df.empty:
        raise TableError("no rows are left to analyse after exclusions and missing responses")
    n_participants = int(df["participant_id"].nunique())
    if n_participants < 2:
        raise TableError(
            f"the analysis needs at least 2 participants after exclusions; found {n_participants}"
            " (every model and test here compares or generalises over participants)"
        )
    return PreparedTable(
        protocol,
        df.reset_index(drop=True),
        n_rows_input,
        n_excluded,
        n_part_input,
        n_part_excluded,
        n_missing,
        reasons,
        notes,
    )


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (``np.int64(0)`` → ``0``, ``2.0`` → ``2``)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _protocol_columns(protocol: AnalysisProtocol, df: pd.DataFrame) -> pd.DataFrame:
    """Each declared column present converted to its kind, then the protocol's own checks."""
    df = df.copy()
    for column in protocol.columns:
        if column.name not in df.columns:
            continue
        if column.kind == "label":
            df[column.name] = _labels(df[column.name], column.name)
        elif column.kind == "integer":
            df[column.name] = _integer(df[column.name], column.name)
        elif column.kind == "binary":
            df[column.name] = _binary(
                df[column.name],
                column.name,
                allow_missing=column.response or column.may_be_missing,
            )
    return protocol.check(df) if protocol.check is not None else df
