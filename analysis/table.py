"""The tidy input table: required columns per protocol, type checks, exclusions.

One row per participant × trial (for preference: per participant × trial × pair of methods, since
a k-way choice or a ranking of k maps is one row per pairwise comparison it implies, all with the
trial's ``trial_index``). Every protocol needs ``participant_id``, ``item_id`` and
``trial_index``; then

========================  ==================================================================
likert                    ``method``, ``rating`` (integer scale points)
preference                ``method_a`` (shown left/first), ``method_b``, ``choice`` (the chosen
                          method, equal to ``method_a`` or ``method_b``)
simulation                ``saliency_shown``, ``scores_shown``, ``model_output``, ``prediction``,
                          ``correct`` (all 0/1), ``confidence`` (integer scale points)
gt_prediction             ``explanation_shown`` (0/1) or ``method``; ``correct`` (0/1); optional
                          ``confidence``, ``agrees_with_model`` and ``model_correct`` (0/1,
                          for reliance)
========================  ==================================================================

Optional everywhere: ``excluded`` (0/1; rows with 1 are dropped and counted; missing means 0),
``exclusion_reason`` (counted per reason), ``rt_ms``, and any condition columns (kept as they are).

Problems that make the table unusable raise :class:`TableError` (a ``ValueError``) with a message
naming the column and what is wrong. Rows whose response is missing (``NA``) are dropped and
counted in a note, as a participant who timed out on a trial gave no response.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "BASE_COLUMNS",
    "OPTIONAL_COLUMNS",
    "PROTOCOLS",
    "PROTOCOL_COLUMNS",
    "PreparedTable",
    "Protocol",
    "TableError",
    "validate_table",
]

Protocol = Literal["likert", "preference", "simulation", "gt_prediction"]
PROTOCOLS: tuple[str, ...] = ("likert", "preference", "simulation", "gt_prediction")
BASE_COLUMNS: tuple[str, ...] = ("participant_id", "item_id", "trial_index")
PROTOCOL_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "likert": ("method", "rating"),
    "preference": ("method_a", "method_b", "choice"),
    "simulation": (
        "saliency_shown",
        "scores_shown",
        "model_output",
        "prediction",
        "correct",
        "confidence",
    ),
    "gt_prediction": ("correct",),  # plus explanation_shown or method
}
OPTIONAL_COLUMNS: tuple[str, ...] = ("excluded", "exclusion_reason", "rt_ms", "confidence")
_BINARY = {
    "simulation": ("saliency_shown", "scores_shown", "model_output", "prediction", "correct"),
    "gt_prediction": ("explanation_shown", "correct", "agrees_with_model", "model_correct"),
}
# binary columns that may be missing on some rows (analyses that use them drop those rows)
_MAY_BE_MISSING = ("agrees_with_model", "model_correct")
# What identifies a row: a preference trial of k maps gives one row per pair it compares.
_ROW_KEY: Mapping[str, tuple[str, ...]] = {
    "preference": ("participant_id", "trial_index", "method_a", "method_b"),
}
_RESPONSE = {
    "likert": ("rating",),
    "preference": ("choice",),
    "simulation": ("prediction", "correct"),
    "gt_prediction": ("correct",),
}


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


def _required(protocol: str, columns: pd.Index) -> list[str]:
    need = list(BASE_COLUMNS) + list(PROTOCOL_COLUMNS[protocol])
    missing = [c for c in need if c not in columns]
    if (
        protocol == "gt_prediction"
        and "explanation_shown" not in columns
        and ("method" not in columns)
    ):
        missing.append("explanation_shown (or method)")
    return missing


def validate_table(protocol: str, table: pd.DataFrame) -> PreparedTable:
    """Check a tidy table for ``protocol``, apply exclusions and return it prepared.

    Raises:
        TableError: unknown protocol, missing columns, wrong values, duplicate trials, or fewer
            than two participants left after exclusions.
    """
    if protocol not in PROTOCOLS:
        raise TableError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if not isinstance(table, pd.DataFrame):
        raise TableError(f"expected a pandas DataFrame, got {type(table).__name__}")
    if table.empty:
        raise TableError("the table has no rows")
    missing = _required(protocol, table.columns)
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
    key = list(_ROW_KEY.get(protocol, ("participant_id", "trial_index")))
    dup = df.duplicated(key, keep=False)
    if dup.any():
        first = df.loc[dup, key].iloc[0]
        example = ", ".join(f"{col} {_plain(first[col])!r}" for col in key)
        raise TableError(
            f"{int(dup.sum())} rows share a ({', '.join(key)}): e.g. {example}; one row per "
            + ("comparison" if protocol == "preference" else "trial")
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

    df = _protocol_columns(protocol, df)
    response = list(_RESPONSE[protocol])
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


def _protocol_columns(protocol: str, df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    if protocol == "likert":
        df["method"] = _labels(df["method"], "method")
        df["rating"] = _integer(df["rating"], "rating")
    elif protocol == "preference":
        df["method_a"] = _labels(df["method_a"], "method_a")
        df["method_b"] = _labels(df["method_b"], "method_b")
        same = df["method_a"] == df["method_b"]
        if same.any():
            raise TableError(
                f"{int(same.sum())} row(s) compare a method with itself "
                f"(method_a == method_b, e.g. {df.loc[same, 'method_a'].iloc[0]!r})"
            )
        choice = df["choice"].where(df["choice"].isna(), df["choice"].astype(str).str.strip())
        bad = choice.notna() & (choice != df["method_a"]) & (choice != df["method_b"])
        if bad.any():
            row = df.loc[bad].iloc[0]
            raise TableError(
                f"column 'choice' must equal method_a or method_b; {int(bad.sum())} row(s) do "
                f"not (e.g. choice {row['choice']!r} for {row['method_a']!r} vs "
                f"{row['method_b']!r})"
            )
        df["choice"] = choice
    else:
        if protocol == "gt_prediction" and "explanation_shown" not in df.columns:
            df["method"] = _labels(df["method"], "method")
        for col in _BINARY[protocol]:
            if col in df.columns:
                df[col] = _binary(
                    df[col], col, allow_missing=col in _RESPONSE[protocol] or col in _MAY_BE_MISSING
                )
        if "confidence" in df.columns:
            df["confidence"] = _integer(df["confidence"], "confidence")
        if (
            protocol == "gt_prediction"
            and "method" in df.columns
            and ("explanation_shown" in df.columns)
        ):
            df["method"] = df["method"].where(df["method"].isna(), df["method"].astype(str))
    return df
