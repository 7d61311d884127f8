"""The results table: one row per (analysis, term), shaped like broom / effectsize output.

Columns (stable, in this order): ``analysis``, ``term``, ``estimate``, ``ci_low``, ``ci_high``,
``statistic``, ``df``, ``p``, ``p_adjusted``, ``n``, ``note``.

p-values are adjusted within a *family*: by default every analysis is its own family (e.g. the
pairwise Wilcoxon tests of a study, or the fixed effects of one model other than its intercept),
adjusted by Holm (confirmatory) unless the analysis declares Benjamini–Hochberg (exploratory,
e.g. ``human_vs_metric``). Rows that repeat the same test (an odds ratio beside its log-odds, ω²
beside η²) share a ``test_key`` so the test is counted once. A row that is alone in its family
gets ``p_adjusted = p``. Rows without a p-value have NaN in ``p`` and ``p_adjusted``.

A NaN estimate always carries a note saying why (:meth:`ResultBuilder.frame` enforces it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from analysis.effect_sizes import EffectSize
from analysis.multiple import AdjustMethod, adjust_p

__all__ = ["RESULT_COLUMNS", "ResultBuilder", "Row"]

RESULT_COLUMNS: tuple[str, ...] = (
    "analysis",
    "term",
    "estimate",
    "ci_low",
    "ci_high",
    "statistic",
    "df",
    "p",
    "p_adjusted",
    "n",
    "note",
)

NAN = math.nan


@dataclass(frozen=True)
class Row:
    """One result row. ``family``/``adjust``/``test_key`` steer the p-value adjustment."""

    analysis: str
    term: str
    estimate: float = NAN
    ci_low: float = NAN
    ci_high: float = NAN
    statistic: float = NAN
    df: float = NAN
    p: float = NAN
    n: float = NAN
    note: str = ""
    family: str | None = None
    adjust: AdjustMethod = "holm"
    test_key: str | None = None
    p_adjusted: float = NAN


def _float(value: object) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return NAN
    return out


@dataclass
class ResultBuilder:
    """Collects rows; :meth:`frame` adjusts p-values and returns the table."""

    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def extend(self, rows: Iterable[Row]) -> None:
        self.rows.extend(rows)

    def effect(
        self,
        analysis: str,
        term: str,
        es: EffectSize,
        *,
        statistic: float = NAN,
        df: float = NAN,
        p: float = NAN,
        note: str = "",
        family: str | None = None,
        adjust: AdjustMethod = "holm",
        test_key: str | None = None,
    ) -> None:
        """Add a row from an :class:`EffectSize` (its own note is appended to ``note``)."""
        notes = "; ".join(x for x in (note, es.note) if x)
        self.add(
            Row(
                analysis,
                term,
                es.estimate,
                es.ci_low,
                es.ci_high,
                statistic,
                df,
                p,
                es.n,
                notes,
                family,
                adjust,
                test_key,
            )
        )

    def not_estimable(self, analysis: str, term: str, reason: str, n: float = NAN) -> None:
        """Add a row whose estimate cannot be computed, with the reason as its note."""
        self.add(Row(analysis, term, n=n, note=reason))

    def adjusted_rows(self) -> list[Row]:
        """Rows with ``p_adjusted`` filled in within each family."""
        families: dict[tuple[str, AdjustMethod], list[int]] = {}
        for i, row in enumerate(self.rows):
            key = (row.family or row.analysis, row.adjust)
            families.setdefault(key, []).append(i)
        out = list(self.rows)
        for (_, method), indices in families.items():
            tests: dict[str, float] = {}
            for i in indices:
                row = self.rows[i]
                if np.isfinite(row.p):
                    tests.setdefault(row.test_key or f"{row.term}#{i}", row.p)
            if not tests:
                continue
            keys = list(tests)
            adjusted = dict(zip(keys, adjust_p([tests[k] for k in keys], method), strict=True))
            for i in indices:
                row = self.rows[i]
                if np.isfinite(row.p):
                    out[i] = replace(
                        row, p_adjusted=float(adjusted[row.test_key or f"{row.term}#{i}"])
                    )
        return out

    def frame(self, *, strict: bool = False) -> pd.DataFrame:
        """The results table in :data:`RESULT_COLUMNS` order.

        A NaN estimate without a note is a bug: ``strict`` raises, otherwise a generic note is
        written so that nothing is silently missing.
        """
        records = []
        for row in self.adjusted_rows():
            note = row.note
            if not np.isfinite(_float(row.estimate)) and not note:
                if strict:
                    raise AssertionError(f"{row.analysis}/{row.term}: NaN estimate without a note")
                note = "not estimable from these data"
            records.append(
                {
                    "analysis": row.analysis,
                    "term": row.term,
                    "estimate": _float(row.estimate),
                    "ci_low": _float(row.ci_low),
                    "ci_high": _float(row.ci_high),
                    "statistic": _float(row.statistic),
                    "df": _float(row.df),
                    "p": _float(row.p),
                    "p_adjusted": _float(row.p_adjusted),
                    "n": _float(row.n),
                    "note": note,
                }
            )
        frame = pd.DataFrame.from_records(records, columns=list(RESULT_COLUMNS))
        for column in RESULT_COLUMNS[2:10]:
            frame[column] = frame[column].astype(float)
        frame["analysis"] = frame["analysis"].astype(str)
        frame["term"] = frame["term"].astype(str)
        frame["note"] = frame["note"].astype(str)
        return frame
